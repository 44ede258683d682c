namespace P2PNet.Proxy.Tunnels;

/// <summary>Where the server published one of the device's services.</summary>
/// <param name="Service">The service name.</param>
/// <param name="Kind">How it is published.</param>
/// <param name="Host">The server's public host (TCP, UDP) or the service's hostname (HTTP, HTTPS).</param>
/// <param name="Port">The public port (TCP, UDP); 0 for HTTP and HTTPS, which share the server's fronts.</param>
public sealed record TunnelAssignment(string Service, TunnelServiceKind Kind, string Host, int Port)
{
    /// <summary>The public address: <c>host:port</c> for TCP and UDP, the hostname for HTTP and HTTPS.</summary>
    public string Address => Kind is TunnelServiceKind.Tcp or TunnelServiceKind.Udp
        ? (Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}")
        : Host;

    /// <summary><c>service kind address</c>, as <c>p2pnet tunnel expose</c> prints it after <c>EXPOSED</c>.</summary>
    public override string ToString() => $"{Service} {Kind.ToString().ToLowerInvariant()} {Address}";
}
