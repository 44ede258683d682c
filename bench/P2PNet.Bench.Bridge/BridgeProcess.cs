using System.Diagnostics;
using System.Globalization;

namespace P2PNet.Bench.Bridge;

/// <summary>The parent's handle on a `serve` child process.</summary>
internal sealed class BridgeProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BridgeProcess(Process process, Uri url)
    {
        _process = process;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<BridgeProcess> StartAsync(int maxClients)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(BridgeProcess).Assembly.Location);
        }

        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(maxClients.ToString(CultureInfo.InvariantCulture));
        Process process = Process.Start(start)!;
        string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.StartsWith("BRIDGE ", StringComparison.Ordinal))
        {
            process.Kill();
            throw new InvalidOperationException("The bridge process did not start: " + line);
        }

        return new BridgeProcess(process, new Uri(line["BRIDGE ".Length..]));
    }

    /// <summary>Live managed heap and working set of the bridge process, after full collections.</summary>
    public async Task<(long GcHeap, long WorkingSet)> StatsAsync()
    {
        await _process.StandardInput.WriteLineAsync("stats");
        await _process.StandardInput.FlushAsync();
        string line = (await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)))!;
        string[] parts = line.Split(' ');
        return (long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    /// <summary>Bytes the bridge process has allocated so far, and its gen-0 collections.</summary>
    public async Task<(long Bytes, int Gen0Collections)> AllocatedAsync()
    {
        await _process.StandardInput.WriteLineAsync("alloc");
        await _process.StandardInput.FlushAsync();
        string line = (await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)))!;
        string[] parts = line.Split(' ');
        return (long.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    /// <summary>CPU time the bridge process has used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("quit");
            await _process.StandardInput.FlushAsync();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception) when (!_process.HasExited)
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
