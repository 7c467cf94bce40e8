"""Live progress of make book (spikelib.pipeline_progress) and of long fits (spikelib.fitting.EpochProgress)."""

from __future__ import annotations

import io

import torch

from spikelib import fitting
from spikelib import pipeline_progress
from spikelib.pipeline_progress import Board, NotebookProgress

PAPERMILL = [
    "Input Notebook:  notebooks/a.ipynb\n",
    "Executing:   0%|          | 0/12 [00:00<?, ?cell/s]Executing notebook with kernel: python3\n",
    "Executing Cell 1---------------------------------------\n",
    "Ending Cell 1------------------------------------------\n",
    "Executing:   8%|▊         | 1/12 [00:01<00:11,  1.00s/cell]Executing Cell 2-----------------\n",
    "[sweep] 3/20 done, ETA 1:02\n",
    "Ending Cell 2------------------------------------------\n",
]


def test_notebook_progress_follows_cells_and_the_kernel_output(tmp_path):
    clock = iter([0.0, 125.0]).__next__
    prog = NotebookProgress("alpha", progress_file=tmp_path / "p", clock=clock)
    for line in PAPERMILL:
        prog.feed(line)
    assert (prog.cell, prog.cells, prog.latest) == (2, 12, "[sweep] 3/20 done, ETA 1:02")
    assert prog.status() == "alpha: cell 2/12, 2:05 | [sweep] 3/20 done, ETA 1:02"
    assert "".join(prog.log) == "".join(PAPERMILL)
    (tmp_path / "p").write_text("alpha.fit:  10%|#   | 2/20 [00:10<01:30]\nalpha.fit:  15%|#   | 3/20\n")
    prog.poll()
    assert prog.fit == "alpha.fit:  15%|#   | 3/20"
    with open(tmp_path / "p", "a") as f:
        f.write("alpha.fit:  20%|##  | 4/20\n")
    prog.poll()  # only the new lines are read
    assert prog.fit.endswith("4/20")


def test_board_in_place_on_a_terminal_and_periodic_in_a_log():
    out = io.StringIO()
    board = Board(out, tty=True)
    board.add("a").feed("Executing Cell 3---\n")
    board.tick()
    assert out.getvalue().startswith("\r\033[K") and "a: cell 3/?" in out.getvalue()
    board.say("[done]  b in 1.0 s")  # the status line is erased before a message
    assert out.getvalue().endswith("\r\033[K[done]  b in 1.0 s\n")
    board.remove("a")
    board.close()

    log = io.StringIO()
    board = Board(log, tty=False, interval=0.0)
    board.add("a").feed("Executing Cell 1---\n")
    board.tick()
    assert log.getvalue().startswith("[run]   a: cell 1/?") and "\r" not in log.getvalue()
    board.close()


def test_epoch_progress_writes_one_line_per_epoch_to_the_pipelines_file(tmp_path, monkeypatch):
    path = tmp_path / "progress"
    monkeypatch.setenv(fitting.PROGRESS_ENV, str(path))
    seen = []
    report = fitting.EpochProgress.wrap(seen.append, 4, initial=1, desc="alpha.fit")
    report({"epoch": 1, "test_accuracy": 0.912345})
    report({"epoch": 2})
    assert len(seen) == 2
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("alpha.fit:") and "2/4" in lines[0]
    assert "test_accuracy=0.9123" in lines[0] and "3/4" in lines[1]


def test_epoch_progress_is_silent_without_the_pipeline(monkeypatch, capsys):
    monkeypatch.delenv(fitting.PROGRESS_ENV, raising=False)
    on_epoch = object()
    assert fitting.EpochProgress.wrap(on_epoch, 3) is on_epoch  # nothing added
    fitting.EpochProgress(2, enabled=True)({"loss": 1.0})
    assert "1/2" in capsys.readouterr().err


def test_a_fit_reports_its_epochs(tmp_path, monkeypatch):
    from spikelib.alpha import MNIST_README, fit

    monkeypatch.setenv(fitting.PROGRESS_ENV, str(tmp_path / "p"))
    hp = MNIST_README.replace(n_hidden=(4,), n_pulses=1, batch_size=4)
    net = hp.network(3, 2, seed=0, dtype=torch.float64)
    x, y = torch.rand(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
    fit(net, (x, y), None, hp, epochs=2, seed=0)
    assert [ln.split("|")[-1].split()[0] for ln in (tmp_path / "p").read_text().splitlines()] == ["1/2", "2/2"]


def test_the_pipeline_and_the_fits_name_the_same_progress_variable():
    assert pipeline_progress.PROGRESS_ENV == fitting.PROGRESS_ENV
