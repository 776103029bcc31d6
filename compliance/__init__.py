"""The compliance engine: rules are data, screening is pure, review is a service.

- `compliance.lexicon`: the YAML lexicon (compliance/lexicon.yaml), validated and compiled; hot reload.
- `compliance.normalize`: skeleton + index map back to the original text; pinyin layer.
- `compliance.screening.screen(text, ...) -> Screening`: the pure screening function.
- `compliance.semantic`: the optional second stage (offline embeddings; LLM judge when configured).
- `compliance.suitability`: product risk R1-R5 against the client's C1-C5 and assessment validity.
- `compliance.pii.mask(text)`: ID numbers, bank cards and phone numbers masked.
- `compliance.gate.ComplianceGate`: the pipeline's `Gate` (inbound signals, outbound verdicts).
- `compliance.service`: flags, review decisions and exports (DB; callers commit).

Importing this package is cheap: nothing heavy loads until first use.
"""
