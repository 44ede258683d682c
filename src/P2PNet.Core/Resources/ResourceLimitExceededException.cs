namespace P2PNet.Resources;

/// <summary>
/// A connection, stream or buffer was refused because a limit of <see cref="ResourceLimits"/> is reached. Retry later
/// (when connections or streams close), or raise the limit named by <see cref="Scope"/> and <see cref="Resource"/>.
/// </summary>
/// <remarks>An <see cref="IOException"/>, so code that handles a failed dial or stream open handles this too.</remarks>
public sealed class ResourceLimitExceededException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ResourceLimitExceededException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ResourceLimitExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public ResourceLimitExceededException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for the limit of <paramref name="resource"/> in <paramref name="scope"/>.</summary>
    public ResourceLimitExceededException(ResourceScopeKind scope, ResourceKind resource, long limit)
        : base($"The {DescribeScope(scope)} limit of {limit} {DescribeResource(resource)} is reached (P2PHostOptions.Resources).")
    {
        Scope = scope;
        Resource = resource;
        Limit = limit;
    }

    /// <summary>The budget that is full.</summary>
    public ResourceScopeKind Scope { get; }

    /// <summary>What the full budget counts.</summary>
    public ResourceKind Resource { get; }

    /// <summary>The limit in force.</summary>
    public long Limit { get; }

    internal static string DescribeScope(ResourceScopeKind scope) => scope switch
    {
        ResourceScopeKind.System => "host's",
        ResourceScopeKind.Ip => "per-IP",
        ResourceScopeKind.Peer => "per-peer",
        ResourceScopeKind.Protocol => "per-protocol",
        _ => "per-connection",
    };

    internal static string DescribeResource(ResourceKind resource) => resource switch
    {
        ResourceKind.InboundConnections => "inbound connections",
        ResourceKind.OutboundConnections => "outbound connections",
        ResourceKind.InboundHandshakes => "inbound connections in their handshake",
        ResourceKind.InboundStreams => "inbound streams",
        ResourceKind.OutboundStreams => "outbound streams",
        _ => "bytes of buffers",
    };
}
