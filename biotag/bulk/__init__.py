"""Bulk tagging (`biotag tag`): corpus files streamed into documents, tagged by the service's
own runtime (in process), by a running service (over HTTP) or by Ray actors, written one part
per input file with a manifest that makes a rerun resume.

- ``records``: what a reader yields (a document, a deletion, a skipped record);
- ``assembly``: the one documented way title and abstract become a text, shared by all readers;
- ``readers/``: PubMed/MEDLINE XML, BioC XML and JSON, PubTator, JSONL, plain text;
- ``inputs``: files, globs and folders -> the ordered input files and their part names;
- ``writer``: one output part per input file, written atomically;
- ``manifest``: finished parts, with what made them, for ``--resume``;
- ``engines``: documents -> entities, in process or over HTTP;
- ``progress``: a progress bar on a terminal, log lines elsewhere, the final summary;
- ``pipeline``: ties them together, one input file after another (``Run``: the output
  folder's side, shared with Ray);
- ``ray_backend``: the same run on Ray Data actors (the optional ``ray`` extra);
- ``command``: `biotag tag` behind the command line (inputs, engine, exit status).
"""
