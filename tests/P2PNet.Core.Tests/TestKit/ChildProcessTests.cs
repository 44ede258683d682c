using P2PNet.Testing;
using P2PNet.Testing.Processes;

namespace P2PNet.Core.Tests.TestKit;

/// <summary>The test kit's process harness against real processes (sh): line waits, stderr, stdin, exit codes,
/// and that stopping kills the whole process tree.</summary>
public sealed class ChildProcessTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WaitForLine_ReturnsALineAlreadyPrinted_AndOneStillToCome()
    {
        await using var process = ChildProcess.Start("sh", ["-c", "echo first; read go; echo second $go; sleep 60"], keepInput: true);
        Assert.Equal("first", await process.WaitForLineAsync(l => l == "first", Step));
        await process.Input.WriteLineAsync("now");
        await process.Input.FlushAsync();
        using var deadline = new CancellationTokenSource(Step);
        Assert.Equal("second now", await process.WaitForLineAsync("second", deadline.Token));
        Assert.Null(process.ExitCode);
    }

    [Fact]
    public async Task WaitForLine_WhenTheProcessExitsFirst_ThrowsWithItsStderrAndExitCode()
    {
        await using var process = ChildProcess.Start("sh", ["-c", "echo oops >&2; exit 3"]);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => process.WaitForLineAsync(l => l == "never", Step));
        Assert.Contains("oops", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, await process.WaitForExitAsync(Step));
        Assert.Contains("oops", process.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForLine_WhenTheLineNeverComes_TimesOutWithTheOutputSoFar()
    {
        await using var process = ChildProcess.Start("sh", ["-c", "echo only-this; sleep 60"]);
        var error = await Assert.ThrowsAsync<TimeoutException>(() => process.WaitForLineAsync(l => l == "never", TimeSpan.FromMilliseconds(500)));
        Assert.Contains("only-this", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_EndsAProcessThatIgnoresSigterm_AndItsChildren()
    {
        // The shell ignores SIGTERM and starts a child that prints its pid: stopping must still end both.
        var process = ChildProcess.Start("sh", ["-c", "trap '' TERM; sleep 300 & echo child $!; wait"]);
        string line = await process.WaitForLineAsync("child ", null, Step);
        int child = int.Parse(line["child ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        await process.StopAsync().WaitAsync(Step);
        Assert.NotNull(process.ExitCode);
        await Conditions.WaitUntilAsync(() => IsGone(child), Step, $"the child {child} outlived the stop");
    }

    /// <summary>No such process, or only a zombie left (a container's init may not reap it).</summary>
    private static bool IsGone(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }

    [Fact]
    public async Task Run_ReturnsExitCodeStdoutAndStderr()
    {
        var result = await ChildProcess.RunAsync("sh", ["-c", "echo out; echo err >&2; exit 4"], Step);
        Assert.Equal(4, result.ExitCode);
        Assert.Equal("out", result.Stdout);
        Assert.Contains("err", result.Stderr, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => result.EnsureSuccess());
    }
}
