using System.Net;

namespace P2PNet.Discovery.Mdns.Internal;

/// <summary>DNS resource record types used by mDNS discovery (RFC 1035 §3.2.2, RFC 3596, RFC 2782).</summary>
internal static class DnsType
{
    public const ushort A = 1;
    public const ushort Ptr = 12;
    public const ushort Txt = 16;
    public const ushort Aaaa = 28;
    public const ushort Srv = 33;
    public const ushort Any = 255;
}

/// <summary>Class IN, and the mDNS top bit (RFC 6762 §5.4 unicast-response in questions, §10.2 cache-flush in records).</summary>
internal static class DnsClass
{
    public const ushort In = 1;
    public const ushort TopBit = 0x8000;
}

/// <summary>One question: a name, a type and a class (the class's top bit is mDNS's unicast-response bit).</summary>
internal sealed record DnsQuestion(string Name, ushort Type, ushort Class);

/// <summary>The typed data of a resource record.</summary>
internal abstract record DnsRecordData;

/// <summary>PTR: a domain name.</summary>
internal sealed record DnsPtrData(string Target) : DnsRecordData;

/// <summary>TXT: one or more strings of at most 255 bytes each.</summary>
internal sealed record DnsTxtData(IReadOnlyList<byte[]> Strings) : DnsRecordData;

/// <summary>A (4 bytes) or AAAA (16 bytes).</summary>
internal sealed record DnsAddressData(IPAddress Address) : DnsRecordData;

/// <summary>SRV: priority, weight, port and target host.</summary>
internal sealed record DnsSrvData(ushort Priority, ushort Weight, ushort Port, string Target) : DnsRecordData;

/// <summary>Any other type, kept as opaque bytes.</summary>
internal sealed record DnsRawData(byte[] Bytes) : DnsRecordData;

/// <summary>A resource record (RFC 1035 §4.1.3).</summary>
internal sealed record DnsRecord(string Name, ushort Type, ushort Class, uint Ttl, DnsRecordData Data);

/// <summary>A DNS message (RFC 1035 §4.1). mDNS uses id 0 and the QR/AA flags.</summary>
internal sealed record DnsMessage(
    ushort Id,
    ushort Flags,
    IReadOnlyList<DnsQuestion> Questions,
    IReadOnlyList<DnsRecord> Answers,
    IReadOnlyList<DnsRecord> Authorities,
    IReadOnlyList<DnsRecord> Additionals)
{
    /// <summary>QR (this is a response) and AA (authoritative), as mDNS responses set them.</summary>
    public const ushort ResponseFlags = 0x8400;

    /// <summary>Whether the QR bit is set.</summary>
    public bool IsResponse => (Flags & 0x8000) != 0;
}
