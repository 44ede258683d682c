using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Discovery;
using P2PNet.Discovery.Mdns;
using P2PNet.Discovery.Mdns.Internal;
using P2PNet.Security.Pnet;

namespace P2PNet.Core.Tests.Discovery;

public sealed class DnsMessageCodecTests
{
    private static readonly Gen<string> Labels =
        Gen.Choose(1, 20).SelectMany(n => Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyz0123456789_-".ToCharArray()), n))
            .Select(c => new string(c));

    private static readonly Gen<string> Names =
        Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Gen.Elements("_p2p", "_udp", "local", "x", "peer"), n))
            .SelectMany(suffix => Labels.Select(first => first + "." + string.Join('.', suffix)));

    private static readonly Gen<ushort> UShorts = Gen.Choose(0, ushort.MaxValue).Select(i => (ushort)i);

    private static readonly Gen<DnsRecordData> Data = Gen.OneOf(
        Names.Select(n => (DnsRecordData)new DnsPtrData(n)),
        Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).SelectMany(l => Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), l)), n))
            .Select(s => (DnsRecordData)new DnsTxtData(s)),
        Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 4).Select(b => (DnsRecordData)new DnsAddressData(new IPAddress(b))),
        Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 16).Select(b => (DnsRecordData)new DnsAddressData(new IPAddress(b))),
        Names.SelectMany(n => UShorts.Select(p => (DnsRecordData)new DnsSrvData(1, 2, p, n))));

    private static ushort TypeOf(DnsRecordData data) => data switch
    {
        DnsPtrData => DnsType.Ptr,
        DnsTxtData => DnsType.Txt,
        DnsAddressData a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa,
        DnsSrvData => DnsType.Srv,
        _ => 99,
    };

    private static readonly Gen<DnsRecord> Records =
        Names.SelectMany(name => Data.SelectMany(data => Gen.Choose(0, int.MaxValue).Select(ttl =>
            new DnsRecord(name, TypeOf(data), DnsClass.In, (uint)ttl, data))));

    private static readonly Gen<DnsMessage> Messages =
        from id in UShorts
        from flags in UShorts
        from questions in Gen.ListOf(Names.Select(n => new DnsQuestion(n, DnsType.Ptr, DnsClass.In)))
        from answers in Gen.ListOf(Records)
        from additionals in Gen.ListOf(Records)
        select new DnsMessage(id, flags, questions.Take(5).ToArray(), answers.Take(8).ToArray(), [], additionals.Take(8).ToArray());

    [Property(MaxTest = 300)]
    public Property Encode_ThenParse_RoundTrips_AnyMessage()
    {
        return Prop.ForAll(Messages.ToArbitrary(), message =>
        {
            byte[] encoded = DnsMessageCodec.Encode(message);
            var parsed = DnsMessageCodec.Parse(encoded);
            return parsed.Id == message.Id && parsed.Flags == message.Flags
                && parsed.Questions.SequenceEqual(message.Questions)
                && parsed.Answers.Select(Describe).SequenceEqual(message.Answers.Select(Describe))
                && parsed.Additionals.Select(Describe).SequenceEqual(message.Additionals.Select(Describe))
                && DnsMessageCodec.Encode(parsed).AsSpan().SequenceEqual(encoded);
        });
    }

    private static string Describe(DnsRecord r) => $"{r.Name}|{r.Type}|{r.Class}|{r.Ttl}|" + r.Data switch
    {
        DnsTxtData t => string.Join(",", t.Strings.Select(Convert.ToHexString)),
        DnsAddressData a => a.Address.ToString(),
        var other => other.ToString(),
    };

    [Property(MaxTest = 2000)]
    public Property Parse_ArbitraryBytes_SucceedsOrThrowsOnlyWireFormatException()
    {
        return Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            try
            {
                DnsMessageCodec.Parse(bytes);
            }
            catch (WireFormatException)
            {
            }
            return true;
        });
    }

    [Property(MaxTest = 2000)]
    public Property Parse_MutatedValidMessages_SucceedsOrThrowsOnlyWireFormatException()
    {
        var gen = from message in Messages
                  from position in Gen.Choose(0, 10_000)
                  from value in ArbMap.Default.GeneratorFor<byte>()
                  from cut in Gen.Choose(0, 10_000)
                  select (message, position, value, cut);
        return Prop.ForAll(gen.ToArbitrary(), t =>
        {
            byte[] encoded = DnsMessageCodec.Encode(t.message);
            encoded[t.position % encoded.Length] = t.value;
            var truncated = encoded.AsSpan(0, Math.Max(0, encoded.Length - t.cut % 16)).ToArray();
            foreach (var candidate in new[] { encoded, truncated })
            {
                try
                {
                    DnsMessageCodec.Parse(candidate);
                }
                catch (WireFormatException)
                {
                }
            }
            return true;
        });
    }

    private static byte[] Header(int questions) => [0, 0, 0, 0, 0, (byte)questions, 0, 0, 0, 0, 0, 0];

    [Fact]
    public void Parse_PointerToItself_IsRejected()
    {
        byte[] packet = [.. Header(1), 0xC0, 12, 0, 12, 0, 1];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_PointerLoopBetweenTwoNames_IsRejected()
    {
        // name at 12: label "a" then pointer to 17; name at 17: pointer back to 12.
        byte[] packet = [.. Header(2), 1, (byte)'a', 0xC0, 17, 0, 0xC0, 12, 0, 12, 0, 1];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_ForwardPointer_IsRejected()
    {
        byte[] packet = [.. Header(1), 0xC0, 20, 0, 12, 0, 1, 0, 0, 1, (byte)'a', 0];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_LabelPastTheEnd_IsRejected()
    {
        byte[] packet = [.. Header(1), 40, (byte)'a', (byte)'b'];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_RecordLengthPastTheEnd_IsRejected()
    {
        byte[] packet = [0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, (byte)'a', 0, 0, 16, 0, 1, 0, 0, 0, 120, 0xFF, 0xFF, 3, (byte)'x', (byte)'y', (byte)'z'];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_NameLongerThan255Bytes_IsRejected()
    {
        var name = new List<byte>();
        for (int i = 0; i < 5; i++)
        {
            name.Add(63);
            name.AddRange(Enumerable.Repeat((byte)'a', 63));
        }
        name.Add(0);
        byte[] packet = [.. Header(1), .. name, 0, 12, 0, 1];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Parse_TrailingBytes_AreRejected()
    {
        byte[] packet = [.. Header(0), 0xAA];
        Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(packet));
    }

    [Fact]
    public void Encode_RepeatedSuffixes_AreCompressed()
    {
        var instance = "abcdefghijabcdefghijabcdefghijabcdefghij._p2p._udp.local";
        var message = new DnsMessage(0, DnsMessage.ResponseFlags, [],
            [new DnsRecord("_p2p._udp.local", DnsType.Ptr, DnsClass.In, 120, new DnsPtrData(instance))], [],
            [new DnsRecord(instance, DnsType.Txt, DnsClass.In, 120, new DnsTxtData([Encoding.UTF8.GetBytes("dnsaddr=/ip4/10.0.0.1/tcp/1")]))]);
        byte[] encoded = DnsMessageCodec.Encode(message);
        Assert.Equal(2, CountOccurrences(encoded, "_p2p"u8.ToArray()) + CountOccurrences(encoded, "local"u8.ToArray()));
        Assert.Equal(instance, ((DnsPtrData)DnsMessageCodec.Parse(encoded).Answers[0].Data).Target);
    }

    private static int CountOccurrences(byte[] haystack, byte[] needle)
    {
        int count = 0;
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                count++;
            }
        }
        return count;
    }

    [Fact]
    public void ServiceName_UnderAPrivateNetwork_IsDerivedFromTheFingerprint()
    {
        var key = SwarmKey.Generate();
        Assert.Equal(MdnsOptions.DefaultServiceName, MdnsDiscovery.ServiceNameFor(null));
        string name = MdnsDiscovery.ServiceNameFor(key);
        Assert.Equal($"_p2p-{key.FingerprintHex[..8]}._udp.local", name);
        Assert.NotEqual(name, MdnsDiscovery.ServiceNameFor(SwarmKey.Generate()));
    }
}
