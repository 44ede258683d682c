using System.Runtime.CompilerServices;
using Google.Protobuf;
using P2PNet.Host;
using P2PNet.IO;
using P2PNet.Vpn.Protos;

namespace P2PNet.Vpn.Internal;

/// <summary>
/// The VPN endpoints of each host, by VPN id: an id is served by one endpoint per host (a second one is refused, where a
/// handler would silently replace the first), and a join sent on the bare <see cref="VpnEndpoint.ControlProtocolId"/>
/// (by a member that does not know the id yet) reaches the host's coordinator when it runs exactly one.
/// </summary>
internal static class VpnHostRegistry
{
    // A join request is a few hundred bytes (its multiaddrs); the refusal needs nothing of it.
    private const int MaxBareMessageSize = 64 * 1024;

    private static readonly TimeSpan BareRefusalTimeout = TimeSpan.FromSeconds(10);

    private static readonly ConditionalWeakTable<P2PHost, Entry> Hosts = [];

    /// <summary>Claims <paramref name="endpoint"/>'s VPN id on its host.</summary>
    /// <exception cref="InvalidOperationException">Another endpoint on the host serves that VPN id.</exception>
    public static void Register(VpnEndpoint endpoint, bool coordinator)
    {
        var entry = Hosts.GetValue(endpoint.Host, _ => new Entry());
        string id = endpoint.VpnId!;
        lock (entry)
        {
            if (entry.Endpoints.ContainsKey(id))
            {
                throw new InvalidOperationException($"VPN {id} already runs on this host; stop that endpoint first.");
            }
            entry.Endpoints[id] = endpoint;
            if (coordinator)
            {
                entry.Coordinators.Add(endpoint);
                if (entry.Coordinators.Count == 1)
                {
                    endpoint.Host.SetStreamHandler(VpnEndpoint.ControlProtocolId, (stream, ct) => HandleBareControlAsync(entry, stream, ct));
                }
            }
        }
    }

    /// <summary>Releases <paramref name="endpoint"/>'s VPN id.</summary>
    public static void Unregister(VpnEndpoint endpoint)
    {
        if (!Hosts.TryGetValue(endpoint.Host, out var entry) || endpoint.VpnId is not { } id)
        {
            return;
        }
        lock (entry)
        {
            if (entry.Endpoints.TryGetValue(id, out var registered) && ReferenceEquals(registered, endpoint))
            {
                entry.Endpoints.Remove(id);
            }
            if (entry.Coordinators.Remove(endpoint) && entry.Coordinators.Count == 0)
            {
                endpoint.Host.RemoveStreamHandler(VpnEndpoint.ControlProtocolId);
            }
        }
    }

    private static async Task HandleBareControlAsync(Entry entry, P2PStream stream, CancellationToken cancellationToken)
    {
        VpnEndpoint? only;
        int count;
        lock (entry)
        {
            count = entry.Coordinators.Count;
            only = count == 1 ? entry.Coordinators[0] : null;
        }
        if (only is not null)
        {
            await only.HandleControlAsync(stream, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Several VPNs coordinated here (or none left): the joiner must name one (VpnOptions.VpnId). It gets a refusal
        // it can act on (VpnJoinRejectedException) rather than a reset.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(BareRefusalTimeout);
        try
        {
            _ = await LengthPrefixed.ReadAsync(stream.Input, MaxBareMessageSize, timeout.Token).ConfigureAwait(false);
            var refusal = new ControlMessage
            {
                JoinResponse = new JoinResponse
                {
                    Accepted = false,
                    Reason = $"this host coordinates {count} VPNs: name the one to join (VpnOptions.VpnId, p2pnet vpn up --vpn-id)",
                },
            };
            await LengthPrefixed.WriteAsync(stream.Output, refusal.ToByteArray(), timeout.Token).ConfigureAwait(false);
            await stream.CompleteWritesAsync(timeout.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a refusal that cannot be delivered ends the stream, nothing else
        catch (Exception)
#pragma warning restore CA1031
        {
            stream.Abort();
        }
    }

    private sealed class Entry
    {
        public Dictionary<string, VpnEndpoint> Endpoints { get; } = new(StringComparer.Ordinal);

        public List<VpnEndpoint> Coordinators { get; } = [];
    }
}
