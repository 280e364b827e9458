"""One line per trained epoch on the terminal while the benchmarks run.

A standard run trains for half an hour, one cell for up to several minutes, and pytest
prints nothing until a cell ends.  :class:`EpochLines` implements
:class:`mnist_nets.training.Progress` and writes, through pytest's terminal reporter
(so output capturing does not swallow it), a line when an epoch ends:

      cnn / numpy / cpu, round 1: epoch 2/6, loss 0.0412, train 98.7%, test 98.9%, 21.4 s

Nothing is written between epochs, so the timed training loop does no terminal work.
"""

from __future__ import annotations

from collections.abc import Callable

from mnist_nets.training import EpochRecord


class EpochLines:
    def __init__(self, label: str, write_line: Callable[[str], None]):
        self.label = label
        self.write_line = write_line
        self.round = 0
        self.epochs = 0

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if epoch == 1:
            self.round += 1
        self.epochs = epochs

    def batches_done(self, done: int, mean_loss: float, samples_per_s: float) -> None:
        pass

    def epoch_end(self, record: EpochRecord) -> None:
        test = "" if record.test_accuracy is None else f", test {record.test_accuracy:.1%}"
        self.write_line(
            f"  {self.label}, round {self.round}: epoch {record.epoch}/{self.epochs}, "
            f"loss {record.loss:.4f}, train {record.train_accuracy:.1%}{test}, "
            f"{record.seconds:.3g} s"
        )


def terminal_line_writer(config) -> Callable[[str], None]:
    """``write_line`` through pytest's terminal reporter, with output capturing suspended
    for the write (as ``capsys.disabled()`` does); a no-op without a terminal reporter."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    if reporter is None:
        return lambda line: None

    def write_line(line: str) -> None:
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return write_line
