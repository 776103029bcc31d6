"""The LLM adapter: the ONLY module that imports langchain_openai / openai.

Any OpenAI-compatible endpoint works (LLM_BASE_URL, LLM_API_KEY, LLM_MODEL; EMBEDDING_BASE_URL, EMBEDDING_MODEL).
SDK errors are translated into LLMError at this boundary.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.config import EmbeddingSettings, LLMSettings
from bot.errors import BotError

log = logging.getLogger(__name__)


class LLMError(BotError):
    """The model could not be reached, timed out, or answered with an error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=503)


def build_chat_model(settings: LLMSettings | None) -> Any:
    """A LangChain chat model for an OpenAI-compatible endpoint, or None when no LLM is configured."""
    if settings is None:
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout_s,
        max_retries=0,  # the pipeline escalates instead of waiting through retries
        temperature=0,
    )


def build_embeddings(settings: EmbeddingSettings, *, timeout_s: float = 30.0) -> Any:
    """LangChain OpenAIEmbeddings for an OpenAI-compatible endpoint (no tiktoken length check: works offline)."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=settings.model or "text-embedding-3-small",
        base_url=settings.base_url,
        api_key=settings.api_key or "not-needed",
        check_embedding_ctx_length=False,
        timeout=timeout_s,
        max_retries=1,
    )


def complete(model: Any, prompt: str) -> str:
    """Send one user message and return the text of the reply; any failure becomes LLMError."""
    import openai
    from langchain_core.messages import HumanMessage

    try:
        message = model.invoke([HumanMessage(content=prompt)])
    except openai.APITimeoutError as exc:
        raise LLMError(f"LLM timed out: {exc}") from exc
    except openai.APIError as exc:
        raise LLMError(f"LLM error: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise LLMError(f"LLM call failed: {type(exc).__name__}: {exc}") from exc
    content = message.content
    if isinstance(content, list):
        content = "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")
