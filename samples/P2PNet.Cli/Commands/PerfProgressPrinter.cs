using System.Diagnostics;
using P2PNet.Protocols.Perf;

namespace P2PNet.Cli.Commands;

/// <summary>
/// Prints a perf run's progress as <c>{"type":"intermediary",…}</c> lines at a fixed interval while it runs, the way the
/// perf tools of the other libp2p implementations report intermediary results (libp2p/specs perf/perf.md).
/// </summary>
internal sealed class PerfProgressPrinter : IProgress<PerfProgress>
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _uploaded;
    private long _downloaded;

    /// <summary>Records the latest figures (called by the run once per block: only stores them).</summary>
    public void Report(PerfProgress value)
    {
        Volatile.Write(ref _uploaded, value.UploadedBytes);
        Volatile.Write(ref _downloaded, value.DownloadedBytes);
    }

    /// <summary>Runs <paramref name="run"/>, printing a progress line every <paramref name="interval"/> until it ends.</summary>
    public static async Task<PerfResult> RunAsync(Func<IProgress<PerfProgress>, Task<PerfResult>> run, TimeSpan interval, CancellationToken cancellationToken)
    {
        var printer = new PerfProgressPrinter();
        using var stopPrinting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var printing = printer.PrintAsync(interval, stopPrinting.Token);
        try
        {
            return await run(printer).ConfigureAwait(false);
        }
        finally
        {
            await stopPrinting.CancelAsync().ConfigureAwait(false);
            await printing.ConfigureAwait(false);
        }
    }

    private async Task PrintAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                long up = Volatile.Read(ref _uploaded), down = Volatile.Read(ref _downloaded);
                double seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds; // a stalled run still reports
                double gbit = seconds <= 0 ? 0 : Math.Round((up + down) * 8 / seconds / 1e9, 4);
                CliSupport.WriteJson(new PerfProgressLine(Math.Round(seconds, 3), up, down, gbit), CliJsonContext.Default.PerfProgressLine);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the run ended
        }
    }
}
