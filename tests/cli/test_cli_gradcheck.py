from click.testing import CliRunner

from p2p_cupy.cli.main import main


def test_gradcheck_command_prints_a_passing_row_per_check():
    result = CliRunner().invoke(main, ["gradcheck", "conv2d", "tanh", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith(("conv2d", "tanh"))]
    assert len(rows) == 4 + 2 and all(line.endswith("PASS") for line in rows)
    assert "all checks passed" in result.output


def test_gradcheck_command_rejects_an_unknown_name_listing_the_valid_ones():
    result = CliRunner().invoke(main, ["gradcheck", "conv3d", "--device", "cpu"])
    assert result.exit_code == 2
    assert "unknown case(s) conv3d; valid names: conv2d, conv_transpose2d" in result.output


def test_gradcheck_command_needs_a_name_or_all():
    result = CliRunner().invoke(main, ["gradcheck"])
    assert result.exit_code == 2 and "--all" in result.output


def test_gradcheck_command_reports_an_unavailable_device_without_traceback(monkeypatch):
    from p2p_cupy import backend

    def unavailable(device):
        raise backend.BackendUnavailable(f"device {device!r} is not here")

    monkeypatch.setattr(backend, "get_backend", unavailable)
    result = CliRunner().invoke(main, ["gradcheck", "relu", "--device", "cuda"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: device 'cuda' is not here"
