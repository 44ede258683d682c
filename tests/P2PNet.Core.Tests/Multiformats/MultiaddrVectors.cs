using P2PNet.Multiformats;

namespace P2PNet.Core.Tests.Multiformats;

/// <summary>Text and binary forms of the same multiaddrs.</summary>
internal static class MultiaddrVectors
{
    /// <summary>Pairs from multiformats/multiaddr (README, test/multiaddr.feature) and go-multiaddr's tests
    /// (/ip4/127.0.0.1/udp/1234, /ip4/127.0.0.1/tcp/4321, /ip4/192.0.2.42/tcp/443), the rest encoded by hand from
    /// protocols.csv with an encoder written apart from this code base. Every text here is canonical: it reads
    /// back exactly.</summary>
    public static TheoryData<string, string> Canonical => new()
    {
        { "/ip4/127.0.0.1/udp/1234", "047f000001910204d2" },
        { "/ip4/127.0.0.1/tcp/4321", "047f0000010610e1" },
        { "/ip4/192.0.2.42/tcp/443", "04c000022a0601bb" },
        { "/ip4/0.0.0.0/tcp/0", "0400000000060000" },
        { "/ip4/255.255.255.255/udp/65535", "04ffffffff9102ffff" },
        { "/ip6/::1/tcp/4001", "2900000000000000000000000000000001060fa1" },
        { "/ip6/::/udp/0", "290000000000000000000000000000000091020000" },
        { "/ip6/2001:db8::1/udp/4001/quic-v1", "2920010db800000000000000000000000191020fa1cd03" },
        { "/ip6/::ffff:127.0.0.1/tcp/111", "2900000000000000000000ffff7f00000106006f" },
        {
            "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21/udp/1234/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZ" +
            "BH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g/certhash/u1QEQOFj2IjCsPJFfMAxmQxLGPw",
            "29260100094f819700803eca6566e80c21910204d2cd03d103d203221220c3ab8ff13720e8ad9047dd39466b3c8974e5" +
            "92c2fa383d4a3960714caef0c4f2d20313d501103858f62230ac3c915f300c664312c63f" },
        { "/ip6zone/eth0/ip6/fe80::1/tcp/4001", "2a046574683029fe800000000000000000000000000001060fa1" },
        { "/dns/example.com/tcp/443/tls/ws", "350b6578616d706c652e636f6d0601bbc003dd03" },
        { "/dns4/example.com/tcp/443/wss", "360b6578616d706c652e636f6d0601bbde03" },
        { "/dns6/example.com/udp/443/quic-v1", "370b6578616d706c652e636f6d910201bbcd03" },
        { "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
            "3813626f6f7473747261702e6c69627032702e696fa50322122006b3608aa000274049eb28ad8e793a26ff6fab281a7d" +
            "3bd77cd18eb745dfaabb" },
        { "/ip4/127.0.0.1/tcp/1234/noise", "047f0000010604d2c603" },
        { "/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http", "047f0000010601bbc003c1030b6578616d706c652e636f6de003" },
        {
            "/ip4/1.2.3.4/tcp/4001/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit/p2p/12D3Ko" +
            "oWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV",
            "0401020304060fa1a503221220d52ebb89d85b02a284948203a62ff28389c57c9f42beec4ec20db76a68911c0ba202a5" +
            "03260024080112202d3de6d16ae87f7a933fe1552162a2d3f04951e90e8051e4ee2c18f002dd0fb4" },
        { "/ip4/127.0.0.1/tcp/0/ws/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "047f000001060000dd03a503260024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37e" +
            "b1336b" },
        { "/ip4/127.0.0.1/udp/9090/webrtc-direct", "047f000001910223829802" },
        { "/unix/tmp/p2p.sock", "90030d2f746d702f7032702e736f636b" },
        { "/ip4/1.2.3.4/tcp/80/unix/a/b/c/d/e/f", "040102030406005090030c2f612f622f632f642f652f66" },
        { "/memory/4", "89060000000000000004" },
    };

    /// <summary>go-multiaddr's pairs for the Tor and I2P protocols.</summary>
    public static TheoryData<string, string> TorAndI2p => new()
    {
        { "/onion/aaimaq4ygg2iegci:80", "bc030010c0439831b48218480050" },
        { "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234", "bd03adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e30304d2" },
        { 
            "/garlic64/jT~IyXaoauTni6N4517EG8mrFUKpy0IlgZh-EY9csMAk82Odatmzr~YTZy8Hv7u~wvkg75EFNOyqb~nAPg-khy" +
            "p2TS~ObUz8WlqYAM2VlEzJ7wJB91P-cUlKF18zSzVoJFmsrcQHZCirSbWoOknS6iNmsGRh5KVZsBEfp1Dg3gwTipTRIx7Vl5" +
            "Vy~1OSKQVjYiGZS9q8RL0MF~7xFiKxZDLbPxk0AK9TzGGqm~wMTI2HS0Gm4Ycy8LYPVmLvGonIBYndg2bJC7WLuF6tVjVqui" +
            "okSVDKFwq70BCUU5AU-EvdOD5KEOAM7mPfw-gJUG4tm1TtvcobrObqoRnmhXPTBTN5H7qDD12AvlwFGnfAlBXjuP4xOUAISL" +
            "5SRLiulrsMSiT4GcugSI80mF6sdB0zWRgL1yyvoVWeTBn1TqjO27alr95DGTluuSqrNAxgpQzCKEWAyzrQkBfo2avGAmmz2N" +
            "aHaAvYbOg0QSJz1PLjv2jdPW~ofiQmrGWM1cd~1cCqAAAA",
            "be0383038d3fc8c976a86ae4e78ba378e75ec41bc9ab1542a9cb422581987e118f5cb0c024f3639d6ad9b3aff613672f" +
            "07bfbbbfc2f920ef910534ecaa6ff9c03e0fa4872a764d2fce6d4cfc5a5a9800cd95944cc9ef0241f753fe71494a175f" +
            "334b35682459acadc4076428ab49b5a83a49d2ea2366b06461e4a559b0111fa750e0de0c138a94d1231ed5979572ff53" +
            "922905636221994bdabc44bd0c17fef11622b16432db3f193400af53cc61aa9bfc0c4c8d874b41a6e18732f0b60f5662" +
            "ef1a89c80589dd8366c90bb58bb85ead56356aba2a244950ca170abbd01094539014f84bdd383e4a10e00cee63dfc3e8" +
            "09506e2d9b54edbdca1bace6eaa119e68573d30533791fba830f5d80be5c051a77c09415e3b8fe3139400848be5244b8" +
            "ae96bb0c4a24f819cba0488f34985eac741d3359180bd72cafa1559e4c19f54ea8cedbb6a5afde4319396eb92aab340c" +
            "60a50cc2284580cb3ad09017e8d9abc60269b3d8d687680bd86ce834412273d4f2e3bf68dd3d6fe87e2426ac658cd5c7" +
            "7fd5c0aa000000" },
    };

    public static Multiaddr Ma(string text) => Multiaddr.Parse(text);
}
