namespace P2PNet.Vpn.NetStack;

/// <summary>The congestion controller an <see cref="IPStack"/> gives its TCP connections.</summary>
public enum CongestionControlAlgorithm
{
    /// <summary>CUBIC (RFC 9438), the Linux default: grows the window as a cubic function of time since the last loss.</summary>
    Cubic,

    /// <summary>NewReno (RFC 5681, RFC 6582): additive increase, halving on loss.</summary>
    NewReno,
}
