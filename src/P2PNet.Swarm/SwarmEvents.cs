using P2PNet.Peers;

namespace P2PNet.Swarm;

/// <summary>Base type of every transition <see cref="SwarmOwner"/> and <see cref="SwarmMember"/> report through their <c>Changed</c> event.</summary>
/// <param name="SwarmId">The swarm concerned.</param>
public abstract record SwarmEvent(string SwarmId);

/// <summary>The node switched to the private swarm (listeners restarted with the swarm key).</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="KeyFingerprint">The fingerprint (hex) of the key in use.</param>
/// <param name="BootstrapConnected">How many bootstrap nodes were reached.</param>
public sealed record SwarmJoined(string SwarmId, string KeyFingerprint, int BootstrapConnected) : SwarmEvent(SwarmId);

/// <summary>The node returned to the public network.</summary>
/// <param name="SwarmId">The swarm left.</param>
public sealed record SwarmLeft(string SwarmId) : SwarmEvent(SwarmId);

/// <summary>The swarm key changed; the previous key stays accepted inbound until <paramref name="GraceUntil"/>.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="NewKeyFingerprint">Fingerprint (hex) of the new key.</param>
/// <param name="PreviousKeyFingerprint">Fingerprint (hex) of the key it replaces, if any.</param>
/// <param name="GraceUntil">When the previous key stops being accepted.</param>
public sealed record SwarmKeyRotated(string SwarmId, string NewKeyFingerprint, string? PreviousKeyFingerprint, DateTimeOffset GraceUntil) : SwarmEvent(SwarmId);

/// <summary>A rotation's grace period ended: only the current key is accepted.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="KeyFingerprint">Fingerprint (hex) of the only key now accepted.</param>
public sealed record SwarmGracePeriodEnded(string SwarmId, string KeyFingerprint) : SwarmEvent(SwarmId);

/// <summary>The owner authorised a peer.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="Peer">The peer.</param>
public sealed record SwarmPeerAuthorized(string SwarmId, PeerId Peer) : SwarmEvent(SwarmId);

/// <summary>The owner revoked a peer (and rotated the key).</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="Peer">The peer.</param>
public sealed record SwarmPeerRevoked(string SwarmId, PeerId Peer) : SwarmEvent(SwarmId);

/// <summary>The owner sent the swarm key to an authorised peer.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="Peer">The peer.</param>
/// <param name="KeyFingerprint">Fingerprint (hex) of the key sent.</param>
public sealed record SwarmKeyShared(string SwarmId, PeerId Peer, string KeyFingerprint) : SwarmEvent(SwarmId);

/// <summary>The owner refused a key request.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="Peer">The peer on the other end of the connection.</param>
/// <param name="Status">Why.</param>
/// <param name="Reason">The reason in words, as sent to the peer.</param>
public sealed record SwarmKeyRequestRefused(string SwarmId, PeerId Peer, KeyExchangeStatus Status, string Reason) : SwarmEvent(SwarmId);

/// <summary>A member received the swarm key from the owner.</summary>
/// <param name="SwarmId">The swarm.</param>
/// <param name="KeyFingerprint">Fingerprint (hex) of the key received.</param>
public sealed record SwarmKeyReceived(string SwarmId, string KeyFingerprint) : SwarmEvent(SwarmId);
