using P2PNet.Multiformats;

namespace P2PNet.Proxy.Tunnels;

/// <summary>Settings of a <see cref="TunnelDevice"/>.</summary>
public sealed class TunnelDeviceOptions
{
    /// <summary>The tunnel server's address, with <c>/p2p/&lt;peer id&gt;</c>. Required.</summary>
    public Multiaddr? Server { get; set; }

    /// <summary>The token the server's operator issued for this device. Required.</summary>
    public string Token { get; set; } = "";

    /// <summary>The services to expose, each mapped to a local endpoint. At least one.</summary>
    public IList<TunnelServiceSpec> Services { get; } = [];

    /// <summary>How often the device pings the server on the control stream. Default 15 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the device waits for the server's answer (registration or pong) before it reconnects. Default 30 s.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first wait before re-registering after a loss; it doubles up to <see cref="MaxReconnectDelay"/>. Default 1 s.</summary>
    public TimeSpan InitialReconnectDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between re-registration attempts. Default 30 s.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to a local service may take. Default 10 s.</summary>
    public TimeSpan LocalConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A tunnelled connection that carries nothing either way for this long is closed on the device. Default 15 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    internal void Validate()
    {
        if (Server?.GetPeerId() is null)
        {
            throw new ArgumentException("TunnelDeviceOptions.Server must be the server's address with /p2p/<peer id>.");
        }
        if (string.IsNullOrWhiteSpace(Token))
        {
            throw new ArgumentException("TunnelDeviceOptions.Token is required.");
        }
        if (Services.Count == 0)
        {
            throw new ArgumentException("Expose at least one service.");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in Services)
        {
            if (!TunnelNames.IsValidLabel(service.Name) || !names.Add(service.Name))
            {
                throw new ArgumentException($"Service name '{service.Name}' is invalid or repeated.");
            }
        }
    }
}
