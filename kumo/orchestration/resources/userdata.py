"""A server's user_data as Heat assembles it for each ``user_data_format``.

- ``RAW``: the text as given; when it is the id of a software config of the
  project, that config's ``config`` instead (as Heat does).
- ``SOFTWARE_CONFIG``: the same substitution, then a MIME multipart message
  for cloud-init: a part handler that writes ``text/x-cfninitdata`` parts to
  ``/var/lib/heat-cfntools/`` (where a configuration agent's local
  collector reads them), the user's parts (each part of a multipart
  user_data, otherwise one ``x-shellscript`` part ``userdata``) and
  ``cfn-init-data``: the server's initial metadata (no deployments yet, and
  where the deployments will be listed).
- ``HEAT_CFNTOOLS`` (the default): passed as given (kumo has no CloudFormation
  tools API for cfn-init to call).
"""

from __future__ import annotations

import email
import json
import uuid
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import yaml

CFN_DIR = "/var/lib/heat-cfntools"
PART_HANDLER = f'''#part-handler
"""Writes each text/x-cfninitdata part to {CFN_DIR}/<filename>."""
import errno
import os


def list_types():
    return ["text/x-cfninitdata"]


def handle_part(data, ctype, filename, payload):
    if ctype in ("__begin__", "__end__"):
        return
    try:
        os.makedirs("{CFN_DIR}", 0o700)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    with open(os.path.join("{CFN_DIR}", filename), "w") as f:
        f.write(payload)
'''


def is_config_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.strip().lower()
    except ValueError:
        return False


def config_text(config: Any) -> str:
    """A software config's ``config`` as user_data (a structured one as YAML)."""
    if config is None:
        return ""
    if isinstance(config, str):
        return config
    return yaml.safe_dump(config, default_flow_style=False)


def _part(payload: str, filename: str, subtype: str) -> MIMEText:
    part = MIMEText(payload, subtype, "utf-8")
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _user_parts(user_data: str) -> list[MIMEText]:
    if not user_data.strip():
        return []
    try:
        given = email.message_from_string(user_data)
    except Exception:  # noqa: BLE001 - not a MIME message: one script part
        given = None
    if given is not None and given.is_multipart():
        parts = []
        for i, p in enumerate(given.get_payload()):
            body = p.get_payload(decode=True)
            text = body.decode() if isinstance(body, bytes) else str(p.get_payload())
            parts.append(_part(text, p.get_filename() or f"part-{i:03d}", p.get_content_subtype()))
        return parts
    return [_part(user_data, "userdata", "x-shellscript")]


def software_config(user_data: str, metadata: dict[str, Any]) -> str:
    """The multipart message for ``SOFTWARE_CONFIG``."""
    message = MIMEMultipart()
    message.attach(_part(PART_HANDLER, "part-handler.py", "part-handler"))
    for part in _user_parts(user_data):
        message.attach(part)
    message.attach(_part(json.dumps(metadata), "cfn-init-data", "x-cfninitdata"))
    return message.as_string()
