using Microsoft.Extensions.Options;
using P2PNet.Crypto;
using P2PNet.Host;
using P2PNet.Security.Pnet;

namespace P2PNet.Hosting;

/// <summary>
/// Loads <see cref="P2PHostOptions.IdentityKeyFile"/> and <see cref="P2PHostOptions.PrivateNetworkKeyFile"/> into the
/// options when they are first read (at start-up with <c>ValidateOnStart</c>), creating a missing identity file with a new
/// Ed25519 key, readable by the owner only. Without either, a new identity is generated so the hosted services of the
/// swarm and the VPN can sign with the host's key. Failures name the key.
/// </summary>
internal sealed class P2PHostKeyFiles(string prefix) : IPostConfigureOptions<P2PHostOptions>
{
    public string Prefix { get; } = prefix;

    public void PostConfigure(string? name, P2PHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Identity is null && !string.IsNullOrWhiteSpace(options.IdentityKeyFile))
        {
            options.Identity = Load(name, nameof(options.IdentityKeyFile), options.IdentityKeyFile, LoadOrCreateIdentity);
        }
        options.Identity ??= PrivateKey.GenerateEd25519();
        if (options.PrivateNetworkKey is null && !string.IsNullOrWhiteSpace(options.PrivateNetworkKeyFile))
        {
            options.PrivateNetworkKey = Load(name, nameof(options.PrivateNetworkKeyFile), options.PrivateNetworkKeyFile, SwarmKey.ReadFile);
        }
    }

    private static PrivateKey LoadOrCreateIdentity(string path)
    {
        if (File.Exists(path))
        {
            return PrivateKey.ReadFile(path);
        }
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        var key = PrivateKey.GenerateEd25519();
        key.WriteFile(path); // mode 0600 where the OS has modes
        return key;
    }

    private T Load<T>(string? name, string key, string path, Func<string, T> load)
    {
        try
        {
            return load(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or WireFormatException)
        {
            throw new OptionsValidationException(name ?? Options.DefaultName, typeof(P2PHostOptions),
                [$"{Prefix}:{key}: cannot use '{path}': {e.Message}"]);
        }
    }
}
