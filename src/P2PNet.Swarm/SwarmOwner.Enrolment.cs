using P2PNet.Host;

namespace P2PNet.Swarm;

public sealed partial class SwarmOwner
{
    private readonly List<P2PHost> _enrolmentHosts = [];

    /// <summary>
    /// Serves the key exchange on <paramref name="publicHost"/> as well: a second host with the owner's identity that
    /// stays on the public network, so authorised peers that have no key yet can enrol while the owner's own host is
    /// inside the private swarm. Only the key exchange is added to that host; the same authorisation, freshness and
    /// replay checks apply, and it hands out the current key.
    /// </summary>
    /// <param name="publicHost">A started host with the owner's identity and no swarm key. The caller owns it.</param>
    /// <returns>Disposing it stops serving the exchange there (so does disposing the owner).</returns>
    /// <exception cref="ArgumentException"><paramref name="publicHost"/> is the owner's host, has another identity
    /// (requests are bound to the owner's peer id), or is itself private.</exception>
    public IDisposable ServeEnrolment(P2PHost publicHost)
    {
        ArgumentNullException.ThrowIfNull(publicHost);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (ReferenceEquals(publicHost, _host))
        {
            throw new ArgumentException("The owner's own host already serves the key exchange.", nameof(publicHost));
        }
        if (publicHost.PeerId != PeerId)
        {
            throw new ArgumentException($"An enrolment host must have the owner's identity ({PeerId}), not {publicHost.PeerId}: key requests are bound to the owner's peer id.", nameof(publicHost));
        }
        if (publicHost.PrivateNetworkKeys.Key is not null)
        {
            throw new ArgumentException("An enrolment host must be on the public network (no swarm key): it serves peers that have no key yet.", nameof(publicHost));
        }
        publicHost.SetStreamHandler(SwarmProtocols.KeyExchange, HandleKeyExchangeAsync);
        lock (_enrolmentHosts)
        {
            _enrolmentHosts.Add(publicHost);
        }
        return new EnrolmentRegistration(this, publicHost);
    }

    private void StopEnrolment(P2PHost publicHost)
    {
        lock (_enrolmentHosts)
        {
            if (!_enrolmentHosts.Remove(publicHost))
            {
                return;
            }
        }
        publicHost.RemoveStreamHandler(SwarmProtocols.KeyExchange);
    }

    private void StopAllEnrolment()
    {
        P2PHost[] hosts;
        lock (_enrolmentHosts)
        {
            hosts = [.. _enrolmentHosts];
        }
        foreach (var host in hosts)
        {
            StopEnrolment(host);
        }
    }

    private sealed class EnrolmentRegistration(SwarmOwner owner, P2PHost host) : IDisposable
    {
        public void Dispose() => owner.StopEnrolment(host);
    }
}
