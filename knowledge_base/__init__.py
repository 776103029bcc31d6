"""Knowledge base: FAQ entries and documents with a draft -> published life cycle, import, and hybrid retrieval.

`knowledge_base.service.KnowledgeBase` is the entry point; `knowledge_base.store` is the only module importing chromadb.
"""
