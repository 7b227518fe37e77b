"""`biotag eval`: entity-level precision / recall / F1 of served models on annotated corpora.

`datasets` reads IOB and PubTator files into documents with gold character spans, `scoring`
counts exact matches, `runner` sends the documents through the service's own tagging path.
"""
