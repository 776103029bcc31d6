"""Clients' conversations and their messages."""
