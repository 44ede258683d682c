namespace P2PNet.Protocols.Nat;

/// <summary>Settings of <see cref="AutoNatClient"/>.</summary>
public sealed class AutoNatClientOptions
{
    /// <summary>Agreeing answers needed for a verdict on an address, from as many distinct servers as are connected
    /// (up to this number; with fewer servers, repeated answers of the same ones make up the count). Default 3.</summary>
    public int Confirmations { get; set; } = 3;

    /// <summary>Time between probes while an address has no verdict. Default 2 seconds.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time between probes once every address has a verdict. Default 15 minutes.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long one request may take (the server's dial-back included). Default 30 seconds.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The most dial data (v2's amplification guard) we agree to send for one request. Default 100,000 bytes.</summary>
    public int MaxDialDataBytes { get; set; } = 100_000;

    /// <summary>Ask servers to test private-use and loopback addresses too (labs and tests whose "public" side uses
    /// private ranges).
    /// Default false: only public addresses are sent, as the spec asks.</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Probe in the background from <see cref="AutoNatClient.Start"/> on. Off: only
    /// <see cref="AutoNatClient.ProbeAsync"/> probes (on demand), and dial-backs are still served. Default true.</summary>
    public bool BackgroundProbing { get; set; } = true;
}
