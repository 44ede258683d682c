using System.Net.Security;

namespace P2PNet.Transports.WebSockets;

/// <summary>Settings of the <see cref="WebSocketTransport"/>.</summary>
public sealed class WebSocketTransportOptions
{
    /// <summary>Limit for the TCP connect plus the HTTP upgrade (and TLS for <c>/wss</c>). Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit for an inbound client to complete its HTTP upgrade request. Default 10 s.</summary>
    public TimeSpan UpgradeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest HTTP upgrade request accepted (request line plus headers). Default 8 KiB.</summary>
    public int MaxUpgradeRequestSize { get; set; } = 8 * 1024;

    /// <summary>Most inbound upgrades in progress at once per listener; further clients wait in the TCP backlog. Default 64.</summary>
    public int MaxPendingUpgrades { get; set; } = 64;

    /// <summary>WebSocket keep-alive (ping) interval; <see cref="TimeSpan.Zero"/> disables it. Default 30 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bytes buffered from the remote before reading pauses. Default 1 MiB.</summary>
    public int MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes buffered for sending before writers wait. Default 1 MiB.</summary>
    public int MaxWriteBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Largest binary message sent; larger writes are split. Default 64 KiB.</summary>
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary>TCP listen backlog. Default 512.</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>Validates the server certificate on <c>/wss</c> dials. Default: the system's validation
    /// (a certificate for the dialed DNS name, chaining to a trusted root).</summary>
    public RemoteCertificateValidationCallback? RemoteCertificateValidation { get; set; }
}
