namespace P2PNet.Host;

/// <summary>Serves one inbound stream of a registered protocol. The host disposes the stream when the handler returns.</summary>
/// <param name="stream">The stream, protocol already negotiated.</param>
/// <param name="cancellationToken">Cancelled when the connection or host closes.</param>
public delegate Task StreamHandler(P2PStream stream, CancellationToken cancellationToken);
