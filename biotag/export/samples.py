"""Biomedical sentences the exporter checks every graph on (no torch here: tools reuse them)."""

SAMPLE_TEXTS = (
    "Hereditary breast and ovarian cancer syndrome is caused by germline BRCA1 mutations.",
    "Cisplatin-induced nephrotoxicity was attenuated by N-acetylcysteine in Wistar rats.",
    "Duchenne muscular dystrophy (DMD) is an X-linked recessive disorder of muscle.",
    "TNF-α and IL-6 levels rose in patients with Crohn's disease treated with infliximab.",
    "Mutations in the CFTR gene cause cystic fibrosis in humans and in Sus scrofa models.",
    "Ménière's disease and Sjögren syndrome were excluded; 5-fluorouracil was given i.v.",
    "Ataxia-telangiectasia (A-T) patients show immunodeficiency and cancer predisposition.",
    "Escherichia coli and Saccharomyces cerevisiae expressed the p53 tumour suppressor.",
    "Lithium carbonate caused nephrogenic diabetes insipidus in 3 of 12 patients (25%).",
    "No adverse events were recorded.",
)
