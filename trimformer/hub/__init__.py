"""Publishing: push a run's stage to the Hugging Face Hub and rebuild its report files.

from trimformer.hub import push_output
push_output("OUTPUT", "me/minilm-distilled")
"""

from trimformer.hub.push import PushError, PushResult, push_output
from trimformer.hub.report import load_report, write_publish_files, write_report_files

__all__ = ["PushError", "PushResult", "push_output", "load_report", "write_publish_files", "write_report_files"]
