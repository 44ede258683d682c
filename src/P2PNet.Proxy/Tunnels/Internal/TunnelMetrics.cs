using System.Diagnostics.Metrics;

namespace P2PNet.Proxy.Tunnels.Internal;

/// <summary>
/// The tunnel server's instruments, on the meter <c>P2PNet.Proxy.Tunnels</c>: <c>p2pnet.tunnel.connections</c> (accepted
/// public connections), <c>p2pnet.tunnel.connections.active</c>, <c>p2pnet.tunnel.connections.refused</c> (over the
/// per-tunnel limit), <c>p2pnet.tunnel.bytes</c> (tag <c>direction</c> = <c>in</c> towards the device, <c>out</c> towards
/// the public side) and <c>p2pnet.tunnel.devices.active</c>. Tags <c>device</c> and <c>service</c> name the tunnel: their
/// cardinality is the operator's number of issued tokens times services, bounded by the registration limits.
/// Current rates are in <see cref="TunnelServer.GetStatus"/>.
/// </summary>
internal sealed class TunnelMetrics
{
    public const string MeterName = "P2PNet.Proxy.Tunnels";

    private readonly Counter<long> _connections;
    private readonly UpDownCounter<long> _active;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _bytes;
    private readonly UpDownCounter<long> _devices;

    public TunnelMetrics(IMeterFactory? meterFactory)
    {
        Meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _connections = Meter.CreateCounter<long>("p2pnet.tunnel.connections", "{connection}", "Public connections accepted into tunnels.");
        _active = Meter.CreateUpDownCounter<long>("p2pnet.tunnel.connections.active", "{connection}", "Public connections open in tunnels.");
        _refused = Meter.CreateCounter<long>("p2pnet.tunnel.connections.refused", "{connection}", "Public connections refused by a tunnel's connection limit.");
        _bytes = Meter.CreateCounter<long>("p2pnet.tunnel.bytes", "By", "Bytes carried through tunnels.");
        _devices = Meter.CreateUpDownCounter<long>("p2pnet.tunnel.devices.active", "{device}", "Devices registered now.");
    }

    public Meter Meter { get; }

    public void Opened(string device, string service)
    {
        var tags = Tags(device, service);
        _connections.Add(1, tags);
        _active.Add(1, tags);
    }

    public void Closed(string device, string service) => _active.Add(-1, Tags(device, service));

    public void Refused(string device, string service) => _refused.Add(1, Tags(device, service));

    public void Bytes(string device, string service, int bytes, bool inbound)
    {
        if (_bytes.Enabled)
        {
            _bytes.Add(bytes, new KeyValuePair<string, object?>("device", device), new KeyValuePair<string, object?>("service", service),
                new KeyValuePair<string, object?>("direction", inbound ? "in" : "out"));
        }
    }

    public void DeviceOnline(bool online) => _devices.Add(online ? 1 : -1);

    private static System.Diagnostics.TagList Tags(string device, string service) =>
        new() { { "device", device }, { "service", service } };
}
