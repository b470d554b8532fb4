// The master bar (ProgressBar with master: true, the default) on a forced StringWriter with a fake clock that
// a callback moves one second per batch: every redraw's master line (epochs done / total, elapsed < ETA, the
// ETA from the first epoch's batches, then from the completed epochs' mean) over the phase's line, and the
// screen a terminal shows afterwards (a small emulator of '\r', '\n', cursor-up and erase-line): the epoch
// table written to the same writer, each row on a clean line, then the master bar's final state, nothing else.
using System.Text;
using NativeCnn.Training;
using Xunit;

namespace NativeCnn.Tests.Reports;

public class MasterBarTests
{
    /// <summary>Advances the fake clock by one second after every batch, before the bar (order 25) draws.</summary>
    private sealed class Tick(Action advance) : Callback
    {
        public override int Order => 10;
        public override void AfterBatch(Learner learn) => advance();
    }

    private static (string Output, Learner Learn) Run(int epochs, int width = 10)
    {
        var sw = new StringWriter();
        var time = TimeSpan.Zero;
        var learn = ProgressBarTests.Tiny();   // 3 train batches, 2 valid batches
        learn.AddCallback(new EpochTablePrinter(sw));
        var bar = new ProgressBar(sw, force: true, minInterval: TimeSpan.Zero, showLoss: true, width: width, master: true, clock: () => time);
        learn.Fit(epochs, 0.1f, bar, new Tick(() => time += TimeSpan.FromSeconds(1)));
        return (sw.ToString(), learn);
    }

    private const string Esc = "\u001b";

    /// <summary>Each redraw: the master line and the phase line written together.</summary>
    private static List<(string Master, string Phase)> Frames(string s) =>
        System.Text.RegularExpressions.Regex.Matches(s, $@"{Esc}\[2K(epoch [^\n\r{Esc}]*)\n{Esc}\[2K((?:train|valid) [^\r{Esc}]*)")
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();

    [Fact]
    public void TheMasterLineCountsEpochsAndItsEtaComesFromTheElapsedTime()
    {
        var (s, learn) = Run(2);
        var frames = Frames(s);
        // Per epoch: train start + 3 batches, valid start + 2 batches.
        Assert.Equal(2 * (4 + 3), frames.Count);
        // Epoch 0: train batch k at k s estimates a 3 s epoch (k/k x 3), so 6 - k s left; in validation the
        // epoch is 3 s of training plus the batches so far extrapolated (1 s x 2), so 10 - t left. Epoch 1:
        // the first epoch took 5 s, so 2 x 5 - t left.
        Assert.Equal(new[]
        {
            "0/2 00:00<--:--", "0/2 00:01<00:05", "0/2 00:02<00:04", "0/2 00:03<00:03",
            "0/2 00:03<00:03", "0/2 00:04<00:06", "0/2 00:05<00:05",
            "1/2 00:05<00:05", "1/2 00:06<00:04", "1/2 00:07<00:03", "1/2 00:08<00:02",
            "1/2 00:08<00:02", "1/2 00:09<00:01", "1/2 00:10<00:00",
        }, frames.Select(f => f.Master["epoch [----------] ".Length..]));
        Assert.All(frames.Take(7), f => Assert.StartsWith("epoch [----------] 0/2", f.Master));
        Assert.All(frames.Skip(7), f => Assert.StartsWith("epoch [#####-----] 1/2", f.Master));
        // Beneath it the phase's own bar: counts, its own elapsed < left, the batch's loss while training.
        Assert.Equal("train [----------] 0/3 00:00<--:--", frames[0].Phase);
        Assert.Equal(FormattableString.Invariant($"train [###-------] 1/3 00:01<00:02 loss {learn.Recorder.Losses[0]:F4}"), frames[1].Phase);
        Assert.Equal("valid [#####-----] 1/2 00:01<00:01", frames[5].Phase);
        Assert.Equal("valid [##########] 2/2 00:02<00:00", frames[13].Phase);
        // The final state: all epochs done, the whole fit's time, nothing left.
        Assert.EndsWith("epoch [##########] 2/2 00:10<00:00" + Environment.NewLine, s);
    }

    [Fact]
    public void ATerminalShowsTheTableRowsOnCleanLinesThenTheFinalMasterLine()
    {
        var (s, learn) = Run(3);
        var screen = Terminal(s);
        Assert.Equal(1 + 3 + 1, screen.Count);
        Assert.StartsWith("epoch  train_loss  valid_loss  time", screen[0]);
        for (int e = 0; e < 3; e++)
            Assert.StartsWith(FormattableString.Invariant($"{e,-7}{learn.Recorder.TrainLosses[e],-12:F6}{learn.Recorder.ValidLosses[e],-12:F6}"), screen[1 + e]);
        Assert.Equal("epoch [##########] 3/3 00:15<00:00", screen[4]);
    }

    /// <summary>Throws at the given train batch of the given epoch, as a NaN loss or a failing data file would.</summary>
    private sealed class FailAt(int epoch, int batch) : Callback
    {
        public override int Order => 30;   // after the bar (25) has drawn the batch
        public override void AfterBatch(Learner learn)
        {
            if (learn.Training && learn.Epoch == epoch && learn.Iter == batch) throw new InvalidOperationException("data file failed");
        }
    }

    [Fact]
    public void AFailedFitLeavesTheTableRowsAndNoBarsForTheErrorToPrintUnder()
    {
        var sw = new StringWriter();
        var time = TimeSpan.Zero;
        var learn = ProgressBarTests.Tiny();
        learn.AddCallback(new EpochTablePrinter(sw));
        var bar = new ProgressBar(sw, force: true, minInterval: TimeSpan.Zero, showLoss: true, width: 10, master: true, clock: () => time);
        var e = Assert.Throws<InvalidOperationException>(() =>
            learn.Fit(3, 0.1f, bar, new Tick(() => time += TimeSpan.FromSeconds(1)), new FailAt(1, 1)));
        Assert.Equal("data file failed", e.Message);
        Assert.Contains("epoch [#", sw.ToString());   // the bars were drawn in the failed epoch ...
        var screen = Terminal(sw.ToString());
        Assert.Equal(2, screen.Count);                // ... and cleared: the header and epoch 0's row, nothing under them
        Assert.StartsWith("epoch  train_loss", screen[0]);
        Assert.StartsWith("0      ", screen[1]);
    }

    [Fact]
    public void LinesFitTheWidthAskedFor()
    {
        var frames = Frames(Run(1, width: 40).Output);
        Assert.All(frames, f => Assert.Equal(40, f.Master.Split(']')[0].Length - "epoch [".Length));
        Assert.Equal(new string('#', 40), frames[^1].Phase["valid [".Length..("valid [".Length + 40)]);
    }

    /// <summary>What a terminal shows after <paramref name="s"/>: '\r' to column 0, '\n' to the next line's
    /// start, ESC[1A up a line, ESC[2K erases the line; trailing blanks and blank last lines dropped. Any other
    /// escape sequence fails the test when <paramref name="strict"/>, else is ignored (a real terminal's set-up).</summary>
    internal static List<string> Terminal(string s, bool strict = true)
    {
        var lines = new List<StringBuilder> { new() };
        int row = 0, col = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\r') col = 0;
            else if (c == '\n')
            {
                row++;
                col = 0;
                if (row == lines.Count) lines.Add(new StringBuilder());
            }
            else if (c == '\u001b')
            {
                int end = i + 1;
                if (end < s.Length && s[end] == '[')
                    do end++; while (end < s.Length && !(s[end] >= '@' && s[end] <= '~'));   // CSI: parameters, then a final byte
                string seq = s[i..Math.Min(end + 1, s.Length)];
                if (seq == Esc + "[1A") row = Math.Max(0, row - 1);
                else if (seq == Esc + "[2K") lines[row].Clear();
                else if (strict) throw new Xunit.Sdk.XunitException($"unexpected escape sequence {seq.Replace(Esc, "ESC")}");
                i = end;
            }
            else if (!char.IsControl(c))
            {
                var line = lines[row];
                if (line.Length < col) line.Append(' ', col - line.Length);
                if (col < line.Length) line[col] = c;
                else line.Append(c);
                col++;
            }
        }
        var text = lines.Select(l => l.ToString().TrimEnd()).ToList();
        while (text.Count > 0 && text[^1].Length == 0) text.RemoveAt(text.Count - 1);
        return text;
    }
}
