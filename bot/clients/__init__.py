"""Clients and advisors: import and upsert from the CRM (CSV / JSONL / JSON API)."""
