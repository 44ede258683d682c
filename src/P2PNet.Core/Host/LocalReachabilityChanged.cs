namespace P2PNet.Host;

/// <summary>Our reachability changed.</summary>
public sealed record LocalReachabilityChanged(Reachability Reachability) : HostEvent;
