using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PNet.Proxy.UdpBridge.Internal;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>
/// Records the measurements of one bridge's meter (told apart from other tests' bridges by the meter factory that
/// created it) and lets a test wait for a count to be reached.
/// </summary>
internal sealed class BridgeMetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();
    private readonly object _scope;

    public BridgeMetricsRecorder(IMeterFactory scope)
    {
        _scope = scope;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == UdpBridgeMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, _scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key += $"|{tag.Key}={tag.Value}";
            }

            _totals.AddOrUpdate(key, value, (_, total) => total + value);
        });
        _listener.Start();
    }

    /// <summary>
    /// The sum of the measurements of <paramref name="instrument"/> (several names may be joined with '|') whose tags
    /// include all of <paramref name="tags"/> (key=value).
    /// </summary>
    public long Total(string instrument, params string[] tags)
    {
        string[] instruments = instrument.Split('|');
        return _totals.Where(kv => instruments.Contains(kv.Key.Split('|')[0]) && tags.All(t => kv.Key.Split('|').Contains(t))).Sum(kv => kv.Value);
    }

    /// <summary>Waits (polling, with a deadline) until <see cref="Total"/> reaches <paramref name="atLeast"/>.</summary>
    public Task WaitForAsync(long atLeast, string instrument, params string[] tags) =>
        Conditions.WaitUntilAsync(() => Total(instrument, tags) >= atLeast, BridgeClient.Timeout,
            () => $"{instrument} [{string.Join(", ", tags)}] reached {Total(instrument, tags)}, expected at least {atLeast}.");

    public void Dispose() => _listener.Dispose();
}
