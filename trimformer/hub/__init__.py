"""Publishing: push a run's stage to the Hugging Face Hub and rebuild its report files.

from trimformer.hub import push_output
push_output("OUTPUT", "me/minilm-distilled")
"""

from trimformer.hub.push import PushError, PushResult, push_output
from trimformer.hub.report import load_report, write_publish_files, write_report_files
from trimformer.hub.section import HubSection, parse_hub_section, push_after_run

__all__ = [
    "HubSection",
    "PushError",
    "PushResult",
    "load_report",
    "parse_hub_section",
    "push_after_run",
    "push_output",
    "write_publish_files",
    "write_report_files",
]
