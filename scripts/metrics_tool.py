"""The seed's ledger command: `python scripts/metrics_tool.py dump | window --hours 6 | window --seconds 300 |
reset --confirm | import-json --input FILE`. The logic is runtime/service/metrics_tool.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from runtime.service.metrics_tool import main  # noqa: E402

raise SystemExit(main())
