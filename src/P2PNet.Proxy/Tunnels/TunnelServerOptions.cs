using System.Net;

namespace P2PNet.Proxy.Tunnels;

/// <summary>Settings of a <see cref="TunnelServer"/>.</summary>
public sealed class TunnelServerOptions
{
    /// <summary>The host renters use for TCP and UDP ports, as returned to devices (an address or a DNS name). Required.</summary>
    public string PublicHost { get; set; } = "";

    /// <summary>The address public TCP and UDP ports are bound on. Default: every IPv4 address.</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Any;

    /// <summary>First port of the public range (inclusive). Default 20000.</summary>
    public int FirstPort { get; set; } = 20000;

    /// <summary>Last port of the public range (inclusive). Default 20999.</summary>
    public int LastPort { get; set; } = 20999;

    /// <summary>The HTTP front (routes by Host); <see langword="null"/> (the default) serves no HTTP services.</summary>
    public IPEndPoint? HttpEndPoint { get; set; }

    /// <summary>The TLS front (routes by SNI, never terminates TLS); <see langword="null"/> (the default) serves no HTTPS services.</summary>
    public IPEndPoint? HttpsEndPoint { get; set; }

    /// <summary>The domain under which HTTP and HTTPS services get <c>&lt;service&gt;.&lt;device&gt;.&lt;domain&gt;</c>. Default <c>localhost</c>.</summary>
    public string Domain { get; set; } = "localhost";

    /// <summary>Most services one device may register. Default 32.</summary>
    public int MaxServicesPerDevice { get; set; } = 32;

    /// <summary>Most public connections open at once through one tunnel (one service); more are refused. Default 1024.</summary>
    public int MaxConnectionsPerTunnel { get; set; } = 1024;

    /// <summary>Most bytes per second through one tunnel in each direction, all its connections together; 0 (the default) is unlimited.</summary>
    public long MaxBytesPerSecondPerTunnel { get; set; }

    /// <summary>A public connection (or UDP flow) that carries nothing either way for this long is closed. Default 15 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A device whose control stream shows no keepalive for this long is dropped. Default 60 s
    /// (devices ping every 15 s by default).</summary>
    public TimeSpan DeviceTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the server looks for revoked tokens and writes the status table. Default 2 s.</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a front waits for a complete request head or ClientHello. Default 10 s.</summary>
    public TimeSpan HeadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest HTTP request head the HTTP front reads before routing. Default 16 KiB.</summary>
    public int MaxRequestHeadBytes { get; set; } = 16 * 1024;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(PublicHost))
        {
            throw new ArgumentException("TunnelServerOptions.PublicHost is required: the host renters connect to.");
        }
        if (FirstPort is < 1 or > 65535 || LastPort is < 1 or > 65535 || FirstPort > LastPort)
        {
            throw new ArgumentException($"The port range {FirstPort}-{LastPort} is not a range of ports 1-65535.");
        }
        if (string.IsNullOrWhiteSpace(Domain) || Uri.CheckHostName(Domain) != UriHostNameType.Dns)
        {
            throw new ArgumentException($"'{Domain}' is not a DNS domain.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxServicesPerDevice, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerTunnel, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxBytesPerSecondPerTunnel);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestHeadBytes, 256);
    }
}
