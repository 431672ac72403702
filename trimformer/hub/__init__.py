"""Publishing: push a run's stage to the Hugging Face Hub and rebuild its report files.

from trimformer.hub import push_output
push_output("OUTPUT", "me/minilm-distilled")

Names import lazily, so the CLI can install `push`/`report` without importing huggingface_hub's upload code.
"""

from trimformer._lazy import lazy_exports

_EXPORTS = {
    "HubSection": "section",
    "PushError": "push",
    "PushResult": "push",
    "load_report": "report",
    "parse_hub_section": "section",
    "push_after_run": "section",
    "push_output": "push",
    "write_publish_files": "report",
    "write_report_files": "report",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
