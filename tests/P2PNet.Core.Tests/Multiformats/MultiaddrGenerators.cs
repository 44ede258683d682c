using System.Globalization;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using P2PNet.Multiformats;
using P2PNet.Peers;
using SimpleBase;

namespace P2PNet.Core.Tests.Multiformats;

/// <summary>Generates valid multiaddrs in canonical text form (the form <see cref="Multiaddr.ToString"/> writes),
/// built without the code under test except for peer ids, whose text form has its own tests.</summary>
internal static class MultiaddrGenerators
{
    private static Gen<byte> AnyByte => ArbMap.Default.GeneratorFor<byte>();

    private static Gen<byte[]> BytesOf(int length) => Gen.ArrayOf(AnyByte, length);

    private static Gen<string> Port => Gen.Choose(0, 65535).Select(p => p.ToString(CultureInfo.InvariantCulture));

    private static Gen<string> Ip4 => BytesOf(4).Select(b => string.Join('.', b.Select(x => x.ToString(CultureInfo.InvariantCulture))));

    private static Gen<string> Ip6 => Gen.OneOf(
        BytesOf(16).Select(b => new IPAddress(b).ToString()),
        // mostly-zero addresses exercise "::" compression and the IPv4-mapped form
        from tail in BytesOf(4)
        from mapped in ArbMap.Default.GeneratorFor<bool>()
        select new IPAddress([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte)(mapped ? 0xff : 0), (byte)(mapped ? 0xff : 0), .. tail]).ToString());

    private static Gen<string> Label(string alphabet, int maxLength) =>
        Gen.Choose(1, maxLength).SelectMany(n => Gen.ArrayOf(Gen.Elements(alphabet.ToCharArray()), n)).Select(c => new string(c));

    private static Gen<string> DomainName => Gen.OneOf(
        Label("abcdefghijklmnopqrstuvwxyz0123456789-.", 40),
        Label("abcdefghijklmnopqrstuvwxyz0123456789-.:%_~ é中", 20));

    private static Gen<string> PeerIdText => Gen.OneOf(
        BytesOf(32).Select(d => PeerId.FromBytes(Multihash.Encode(Multihash.Sha256Code, d)).ToString()),
        Gen.Elements(
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
            "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY"));

    private static Gen<string> Certhash => Gen.OneOf(
            BytesOf(32).Select(d => (byte[])[0x12, 0x20, .. d]), // sha2-256
            Gen.Choose(0, 64).SelectMany(BytesOf).Select(d => (byte[])[0x00, (byte)d.Length, .. d])) // identity
        .Select(multihash => "u" + Base64Url(multihash));

    private static Gen<string> Onion(int hostBytes) =>
        from host in BytesOf(hostBytes)
        from port in Gen.Choose(1, 65535)
        select Base32.Rfc4648.Encode(host, padding: false).ToLowerInvariant() + ":" + port.ToString(CultureInfo.InvariantCulture);

    private static Gen<string> Garlic64 =>
        Gen.Choose(386, 420).SelectMany(BytesOf).Select(b => Convert.ToBase64String(b).Replace('+', '-').Replace('/', '~'));

    private static Gen<string> UnixPath =>
        Gen.NonEmptyListOf(Label("abcdefghijklmnopqrstuvwxyz0123456789._-", 12)).Select(parts => "/" + string.Join('/', parts));

    private static readonly string[] NoValue =
    [
        "tls", "noise", "quic", "quic-v1", "webtransport", "ws", "wss", "http", "https", "p2p-circuit", "webrtc", "webrtc-direct",
        "utp", "udt", "p2p-webrtc-direct", "p2p-websocket-star",
    ];

    /// <summary>One non-path component as canonical text, e.g. "/tcp/4001".</summary>
    public static Gen<string> Component => Gen.Frequency(
        (4, Ip4.Select(v => "/ip4/" + v)),
        (3, Ip6.Select(v => "/ip6/" + v)),
        (4, from p in Gen.Elements("tcp", "udp", "dccp", "sctp") from v in Port select $"/{p}/{v}"),
        (3, from p in Gen.Elements("dns", "dns4", "dns6", "dnsaddr", "sni", "ip6zone") from v in DomainName select $"/{p}/{v}"),
        (3, PeerIdText.Select(v => "/p2p/" + v)),
        (2, Certhash.Select(v => "/certhash/" + v)),
        (5, Gen.Elements(NoValue).Select(p => "/" + p)),
        (1, Onion(10).Select(v => "/onion/" + v)),
        (1, Onion(35).Select(v => "/onion3/" + v)),
        (1, Garlic64.Select(v => "/garlic64/" + v)),
        (1, ArbMap.Default.GeneratorFor<ulong>().Select(v => "/memory/" + v.ToString(CultureInfo.InvariantCulture))));

    /// <summary>Valid multiaddrs in canonical text: one to eight components, sometimes ending with a /unix path.</summary>
    public static Gen<string> CanonicalText =>
        from count in Gen.Choose(1, 8)
        from parts in Gen.ListOf(Component, count)
        from unix in Gen.Frequency((5, Gen.Constant<string?>(null)), (1, UnixPath.Select(p => (string?)("/unix" + p))))
        select string.Concat(parts) + unix;

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
