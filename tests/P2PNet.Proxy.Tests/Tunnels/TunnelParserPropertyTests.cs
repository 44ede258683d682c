using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Proxy.Tunnels.Internal;
using P2PNet.Proxy.Tunnels.Protos;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>The fronts' parsers and the control messages against arbitrary, split and hostile input.</summary>
public sealed class TunnelParserPropertyTests
{
    private static readonly string[] Labels = ["web", "app", "a", "dev-1", "x0", "very-long-service-name-0123456789"];

    private static Arbitrary<string> Hostnames() => Gen.Elements(Labels)
        .SelectMany(s => Gen.Elements(Labels).Select(d => $"{s}.{d}.example.test")).ToArbitrary();

    [Property(MaxTest = 300)]
    public void HttpHead_ArbitraryBytes_NeverThrow(byte[] bytes) =>
        _ = HttpRequestHead.TryGetHost(new ReadOnlySequence<byte>(bytes), out _);

    [Property(MaxTest = 300)]
    public void TlsClientHello_ArbitraryBytes_NeverThrow(byte[] bytes)
    {
        _ = TlsClientHello.TryGetServerName(new ReadOnlySequence<byte>(bytes), out _);
        // And behind a plausible record header, so the parser gets past the first checks.
        byte[] framed = [22, 3, 1, (byte)(bytes.Length >> 8), (byte)bytes.Length, .. bytes];
        _ = TlsClientHello.TryGetServerName(new ReadOnlySequence<byte>(framed), out _);
    }

    [Property(MaxTest = 300)]
    public void ControlMessages_ArbitraryBytes_ParseOrThrowOnlyWireFormatException(byte[] bytes)
    {
        foreach (var parse in new Action[]
        {
            () => TunnelWire.Parse(DeviceMessage.Parser, new ReadOnlySequence<byte>(bytes)),
            () => TunnelWire.Parse(ServerMessage.Parser, new ReadOnlySequence<byte>(bytes)),
            () => TunnelWire.Parse(ConnectionOpen.Parser, new ReadOnlySequence<byte>(bytes)),
            () => TunnelWire.Parse(ForwardOpen.Parser, new ReadOnlySequence<byte>(bytes)),
        })
        {
            try
            {
                parse();
            }
            catch (WireFormatException)
            {
            }
        }
    }

    [Property(MaxTest = 100)]
    public Property HttpHead_FindsTheHostAtEveryHeaderPosition_AndNeedsMoreUntilTheHeadEnds() => Prop.ForAll(Hostnames(), host =>
    {
        string head = $"GET /path HTTP/1.1\r\nUser-Agent: t\r\nHOST: {host.ToUpperInvariant()}:8080\r\nAccept: */*\r\n\r\nbody";
        byte[] bytes = Encoding.ASCII.GetBytes(head);
        int end = head.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        for (int cut = 0; cut < end; cut++)
        {
            Assert.Equal(FrontParseResult.NeedMore, HttpRequestHead.TryGetHost(new ReadOnlySequence<byte>(bytes, 0, cut), out _));
        }
        Assert.Equal(FrontParseResult.Found, HttpRequestHead.TryGetHost(new ReadOnlySequence<byte>(bytes), out string? found));
        Assert.Equal(host, found);
    });

    [Fact]
    public void HttpHead_WithoutHostOrWithTwo_IsNotRouted()
    {
        Assert.Equal(FrontParseResult.NoName, HttpRequestHead.TryGetHost(Seq("GET / HTTP/1.1\r\nAccept: x\r\n\r\n"), out _));
        Assert.Equal(FrontParseResult.Malformed, HttpRequestHead.TryGetHost(Seq("GET / HTTP/1.1\r\nHost: a.b\r\nHost: c.d\r\n\r\n"), out _));
        Assert.Equal(FrontParseResult.Malformed, HttpRequestHead.TryGetHost(Seq("SSH-2.0-OpenSSH\r\n\r\n"), out _));
        Assert.Equal(FrontParseResult.Malformed, HttpRequestHead.TryGetHost(Seq("GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n"), out _));
    }

    [Property(MaxTest = 100)]
    public Property TlsClientHello_FindsTheSni_InOneOrManyRecords_AndNeedsMoreUntilComplete() => Prop.ForAll(
        Hostnames(), Gen.Elements(16384, 512, 100, 7).ToArbitrary(), (host, recordSize) =>
        {
            byte[] hello = ClientHelloBuilder.Build(host, recordSize, paddingExtension: 600);
            for (int cut = 0; cut < hello.Length; cut++)
            {
                Assert.Equal(FrontParseResult.NeedMore, TlsClientHello.TryGetServerName(new ReadOnlySequence<byte>(hello, 0, cut), out _));
            }
            Assert.Equal(FrontParseResult.Found, TlsClientHello.TryGetServerName(new ReadOnlySequence<byte>(hello), out string? found));
            Assert.Equal(host, found);
        });

    [Fact]
    public void TlsClientHello_WithoutSni_HasNoName_AndPlainHttpIsMalformed()
    {
        Assert.Equal(FrontParseResult.NoName, TlsClientHello.TryGetServerName(new ReadOnlySequence<byte>(ClientHelloBuilder.Build(null)), out _));
        Assert.Equal(FrontParseResult.Malformed, TlsClientHello.TryGetServerName(Seq("GET / HTTP/1.1\r\n\r\n"), out _));
    }

    private static ReadOnlySequence<byte> Seq(string text) => new(Encoding.ASCII.GetBytes(text));
}
