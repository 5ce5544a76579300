"""The seed's telemetry dump: `python scripts/dump_metrics.py --filter portfolio_ [--url URL] [--json]`.
The logic is runtime/service/dump_metrics.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from runtime.service.dump_metrics import main  # noqa: E402

raise SystemExit(main())
