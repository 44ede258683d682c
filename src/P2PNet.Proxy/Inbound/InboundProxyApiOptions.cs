namespace P2PNet.Proxy.Inbound;

/// <summary>Options of the inbound proxy's management API.</summary>
public sealed class InboundProxyApiOptions
{
    /// <summary>When set, every request must carry <c>Authorization: Bearer &lt;token&gt;</c> (401 otherwise); the
    /// OpenAPI document stays readable without it. The design has no authentication and binds to 127.0.0.1; set a token
    /// whenever the API is reachable by anyone but the operator. Default none.</summary>
    public string? BearerToken { get; set; }

    /// <summary>The largest request body read, in bytes; larger ones are answered 413. Default 16 KiB.</summary>
    public int MaxBodySize { get; set; } = 16 * 1024;
}
