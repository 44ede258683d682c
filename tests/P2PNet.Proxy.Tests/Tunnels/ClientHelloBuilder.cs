using System.Buffers.Binary;
using System.Text;

namespace P2PNet.Proxy.Tests.Tunnels;

/// <summary>Builds syntactically valid TLS ClientHellos (RFC 8446 §4.1.2) with or without SNI, in one or several records.</summary>
internal static class ClientHelloBuilder
{
    public static byte[] Build(string? serverName, int recordSize = 16384, int paddingExtension = 0)
    {
        var extensions = new List<byte>();
        // supported_versions (43): TLS 1.3, TLS 1.2
        AddExtension(extensions, 43, [4, 3, 4, 3, 3]);
        if (serverName is not null)
        {
            byte[] name = Encoding.ASCII.GetBytes(serverName);
            var sni = new List<byte>();
            sni.AddRange(U16(name.Length + 3));
            sni.Add(0);
            sni.AddRange(U16(name.Length));
            sni.AddRange(name);
            AddExtension(extensions, 0, [.. sni]);
        }
        if (paddingExtension > 0)
        {
            AddExtension(extensions, 21, new byte[paddingExtension]);
        }
        var body = new List<byte> { 3, 3 };
        body.AddRange(new byte[32]); // random
        body.Add(32);
        body.AddRange(new byte[32]); // legacy session id
        body.AddRange(U16(4));
        body.AddRange(new byte[] { 0x13, 0x01, 0xc0, 0x2f }); // cipher suites
        body.Add(1);
        body.Add(0); // null compression
        body.AddRange(U16(extensions.Count));
        body.AddRange(extensions);
        var handshake = new List<byte> { 1, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);

        var records = new List<byte>();
        for (int offset = 0; offset < handshake.Count; offset += recordSize)
        {
            int length = Math.Min(recordSize, handshake.Count - offset);
            records.AddRange(new byte[] { 22, 3, 1 });
            records.AddRange(U16(length));
            records.AddRange(handshake.GetRange(offset, length));
        }
        return [.. records];
    }

    private static void AddExtension(List<byte> extensions, int type, byte[] data)
    {
        extensions.AddRange(U16(type));
        extensions.AddRange(U16(data.Length));
        extensions.AddRange(data);
    }

    private static byte[] U16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return bytes;
    }
}
