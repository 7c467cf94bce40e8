"""spikelib.fitting: the result type every fit returns and the one checkpoint helper."""

import dataclasses

import pytest
import torch

from spikelib.fitting import Checkpoint, FitResult, clone_state, fingerprint


def test_fit_result_reads_as_the_mapping_fits_returned_before():
    r = FitResult(history=[{"epoch": 0}], best={"epoch": 0, "mse": 0.1})
    assert dict(r) == {"history": [{"epoch": 0}], "best": {"epoch": 0, "mse": 0.1}}
    assert r["history"] == [{"epoch": 0}] and len(r) == 2
    plain = FitResult(history=[], extras={"seconds": 1.5})
    assert dict(plain) == {"history": [], "seconds": 1.5}  # no "best" key where nothing is selected
    with pytest.raises(KeyError):
        plain["best"]


def test_fingerprint_tells_data_and_settings_apart():
    @dataclasses.dataclass
    class HP:
        lr: float

    x = torch.arange(6.0)
    base = fingerprint(HP(0.1), x, 0)
    assert base == fingerprint(HP(0.1), x.clone(), 0)
    assert base != fingerprint(HP(0.2), x, 0)
    assert base != fingerprint(HP(0.1), x + 1, 0)
    assert base != fingerprint(HP(0.1), x.double(), 0)
    assert base != fingerprint(HP(0.1), x, 1)


def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "run.ckpt"
    ck = Checkpoint(path, fingerprint="abc")
    assert ck.load() is None and not ck.exists()
    model = torch.nn.Linear(3, 2)
    ck.save({"model": clone_state(model), "history": [{"epoch": 0, "loss": 1.0}]})
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary left behind
    state = Checkpoint(path, fingerprint="abc").load()
    assert state["history"] == [{"epoch": 0, "loss": 1.0}] and state["fingerprint"] == "abc"
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())


def test_a_checkpoint_of_other_settings_is_refused_or_restarted(tmp_path):
    path = tmp_path / "run.ckpt"
    Checkpoint(path, fingerprint="old").save({"history": [1]})
    with pytest.raises(ValueError, match="other settings.*delete it or choose another"):
        Checkpoint(path, fingerprint="new").load()
    with pytest.warns(UserWarning, match="starting afresh"):
        assert Checkpoint(path, fingerprint="new", on_mismatch="restart").load() is None
    assert Checkpoint(path).load()["history"] == [1]  # no fingerprint asked for: resumed
    with pytest.raises(ValueError, match="on_mismatch"):
        Checkpoint(path, on_mismatch="ignore")


def test_no_path_makes_every_method_a_no_op(tmp_path):
    ck = Checkpoint(None, fingerprint="x")
    ck.save({"a": 1})
    assert ck.load() is None and not ck.exists()


def test_save_and_load_training_resume_model_optimiser_and_generator(tmp_path):
    from spikelib.fitting import load_training, save_training

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    torch.randperm(10, generator=gen)
    ck = Checkpoint(tmp_path / "t.ckpt", fingerprint="f")
    save_training(ck, model, opt, gen, history=[{"epoch": 0}], best={"epoch": 0})
    other, other_gen = torch.nn.Linear(3, 2), torch.Generator()
    other_opt = torch.optim.Adam(other.parameters(), lr=0.1)
    state = load_training(Checkpoint(tmp_path / "t.ckpt", fingerprint="f"), other, other_opt, other_gen)
    assert state["history"] == [{"epoch": 0}] and state["best"] == {"epoch": 0}
    torch.testing.assert_close(other.weight, model.weight)
    assert torch.equal(torch.randperm(10, generator=other_gen), torch.randperm(10, generator=gen))
    assert other_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert load_training(Checkpoint(tmp_path / "none.ckpt"), other, other_opt, other_gen) is None
