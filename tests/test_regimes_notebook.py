"""`notebooks/sol_regimes.ipynb` runs headless, top to bottom, and prints the analysis it promises."""
from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "sol_regimes.ipynb"


def test_the_notebook_executes_headless():
    reason = "the notebook test needs nbclient, nbformat and ipykernel: pip install -e '.[notebook]'"
    nbformat = pytest.importorskip("nbformat", reason=reason)
    nbclient = pytest.importorskip("nbclient", reason=reason)
    pytest.importorskip("ipykernel", reason=reason)
    pytest.importorskip("matplotlib", reason="the notebook draws its plots: pip install -e '.[plots]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))
    assert "61 slices of 300 s" in text and "consistently negative:" in text
    assert "trend_guard.down" in text and "mean PnL by trend" in text
    images = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
              if "image/png" in out.get("data", {})]
    assert len(images) == 3
