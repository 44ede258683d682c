namespace P2PNet.Proxy.Tunnels;

/// <summary>The rules for device and service names: each becomes one DNS label of <c>&lt;service&gt;.&lt;device&gt;.&lt;domain&gt;</c>.</summary>
public static class TunnelNames
{
    /// <summary>Whether <paramref name="name"/> is a valid label: 1–63 characters of lowercase a–z, 0–9 and '-', not
    /// starting or ending with '-' (RFC 1123).</summary>
    public static bool IsValidLabel(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 63 || name[0] == '-' || name[^1] == '-')
        {
            return false;
        }
        foreach (char c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The public hostname of an HTTP or HTTPS service.</summary>
    public static string Hostname(string service, string device, string domain) => $"{service}.{device}.{domain}";

    internal static void ThrowIfInvalid(string? name, string parameter)
    {
        if (!IsValidLabel(name))
        {
            throw new ArgumentException($"'{name}' is not a valid name: use 1-63 characters of a-z, 0-9 and '-' (not first or last).", parameter);
        }
    }
}
