"""A tqdm progress bar for training runs, implementing :class:`mnist_nets.training.Progress`.

One bar per epoch, on stderr (stdout stays free for results and ``--json``):

    numpy epoch 2/5: 100%|████| 469/469 [00:03<00:00, loss 0.3121, train 91.2%, test 92.0%, ...]

While the epoch runs the bar shows the batches done, the running mean loss and the
samples per second; when it ends, the epoch's loss, training and test accuracy.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tqdm import tqdm

from mnist_nets.training import EpochRecord


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until the block is done.

    Drawing or ending a bar is a few steps (tqdm draws in its constructor, before
    ``self.bar`` holds it); an interrupt between them would orphan a drawn line that a
    later message would continue. Only Python's default SIGINT handler is replaced, and only
    in the main thread (the one signals are delivered to).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    pending: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if pending:
            raise KeyboardInterrupt


class BarProgress:
    """Draws :func:`mnist_nets.training.fit`'s progress; ``label`` prefixes each bar."""

    def __init__(self, label: str = "", file: IO[str] | None = None, disable: bool = False):
        self.label = f"{label} " if label else ""
        self.file = file if file is not None else sys.stderr
        self.disable = disable
        self.bar: tqdm | None = None
        # True from the moment a bar may have drawn until its line has ended: an exception
        # inside tqdm's constructor leaves a drawn "0%" line that ``self.bar`` never held
        self.line_open = False

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self.close()
        with interrupts_deferred():
            self.line_open = not self.disable
            self.bar = tqdm(
                total=batches,
                desc=f"{self.label}epoch {epoch}/{epochs}",
                unit="batch",
                file=self.file,
                disable=self.disable,
                dynamic_ncols=True,
                leave=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}<{remaining}{postfix}]",
            )

    def batches_done(self, done: int, mean_loss: float, samples_per_s: float) -> None:
        if self.bar is None:
            return
        text = f"loss {mean_loss:.4f}, {samples_per_s:,.0f} samples/s"
        if done >= self.bar.total:
            text += ", evaluating"
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(done - self.bar.n)  # redraws (at most every 0.1 s)
        if done >= self.bar.total:
            self.bar.refresh()  # evaluation may take a while: say so now

    def epoch_end(self, record: EpochRecord) -> None:
        if self.bar is None:
            return
        text = f"loss {record.loss:.4f}, train {record.train_accuracy:.1%}"
        if record.test_accuracy is not None:
            text += f", test {record.test_accuracy:.1%}"
        text += f", {record.samples / max(record.seconds, 1e-9):,.0f} samples/s"
        self.bar.set_postfix_str(text, refresh=False)
        self.close()

    def close(self) -> None:
        """End the current bar where it stands (also after an error or Ctrl-C).

        Whatever the moment of the interrupt, the line ends here, so that a message
        printed next starts a line of its own.
        """
        with interrupts_deferred():
            if self.bar is not None:
                bar, self.bar = self.bar, None
                bar.close()  # ends the line (leave=True)
            elif self.line_open:  # a bar drawn but never held (an exception inside tqdm)
                self.file.write("\n")
                self.file.flush()
            self.line_open = False
