"""JSON-lines logging for every process, with secrets and addresses masked."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
_TOKEN = re.compile(r"(token=|whsec_|SG\.)[A-Za-z0-9._~-]+")


def mask(text: str) -> str:
    """Hide all but the first letter of an address's local part, and any token or secret."""
    text = _EMAIL.sub(r"\1***@\2", text)
    return _TOKEN.sub(r"\1***", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str) -> None:
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "process": self.process_name,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: mask(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(process_name: str, level: str = "INFO") -> None:
    """Send every log record to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # arq and uvicorn bring handlers of their own: send their records through this one, so
    # they are JSON and masked too (arq logs each job's arguments, addresses included).
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in {"arq", "uvicorn"} and name != "uvicorn.access":
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too many
    logging.Formatter.converter = time.gmtime


def event(logger: logging.Logger, message: str, **fields: Any) -> None:
    """Log `message` at INFO with structured fields (request_id, job_id, ...)."""
    logger.info(message, extra={"fields": fields})
