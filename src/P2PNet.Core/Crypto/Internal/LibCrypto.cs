using System.Runtime.InteropServices;

namespace P2PNet.Crypto.Internal;

/// <summary>
/// The few OpenSSL 3 libcrypto functions X25519 and Ed25519 need, bound at run time through
/// <see cref="NativeLibrary"/> so a machine without OpenSSL 3 still loads the assembly (and uses the managed code).
/// </summary>
/// <remarks>Bound once by <see cref="TryLoad"/>; the pointers never change afterwards, so reading them is thread-safe.
/// The library stays loaded for the life of the process.</remarks>
internal static unsafe class LibCrypto
{
    /// <summary>NID_X25519 (obj_mac.h).</summary>
    public const int NidX25519 = 1034;

    /// <summary>NID_ED25519 (obj_mac.h).</summary>
    public const int NidEd25519 = 1087;

    // The names OpenSSL 3 ships under on Linux and macOS (Homebrew); Windows builds are not probed.
    private static readonly string[] LibraryNames = ["libcrypto.so.3", "libcrypto.3.dylib"];

    public static delegate* unmanaged<int, nint, byte*, nuint, nint> NewRawPrivateKey;
    public static delegate* unmanaged<int, nint, byte*, nuint, nint> NewRawPublicKey;
    public static delegate* unmanaged<nint, byte*, nuint*, int> GetRawPublicKey;
    public static delegate* unmanaged<nint, void> PKeyFree;
    public static delegate* unmanaged<nint, nint, nint> PKeyCtxNew;
    public static delegate* unmanaged<nint, void> PKeyCtxFree;
    public static delegate* unmanaged<nint, int> DeriveInit;
    public static delegate* unmanaged<nint, nint, int, int> DeriveSetPeer;
    public static delegate* unmanaged<nint, byte*, nuint*, int> Derive;
    public static delegate* unmanaged<nint> MdCtxNew;
    public static delegate* unmanaged<nint, void> MdCtxFree;
    public static delegate* unmanaged<nint, nint, nint, nint, nint, int> DigestSignInit;
    public static delegate* unmanaged<nint, byte*, nuint*, byte*, nuint, int> DigestSign;
    public static delegate* unmanaged<nint, nint, nint, nint, nint, int> DigestVerifyInit;
    public static delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int> DigestVerify;
    public static delegate* unmanaged<void> ClearError;

    /// <summary>Loads libcrypto 3.x and binds every function; <see langword="false"/> (nothing bound) if any is missing.</summary>
    public static bool TryLoad()
    {
        foreach (string name in LibraryNames)
        {
            if (!NativeLibrary.TryLoad(name, typeof(LibCrypto).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.System32, out nint library))
            {
                continue;
            }
            if (TryBind(library))
            {
                return true;
            }
            NativeLibrary.Free(library);
        }
        return false;
    }

    private static bool TryBind(nint library)
    {
        // OpenSSL_version_num: 0xMNN00PP0L; 3.0.0 is 0x30000000.
        if (!NativeLibrary.TryGetExport(library, "OpenSSL_version_num", out nint versionNum)
            || ((delegate* unmanaged<nuint>)versionNum)() < 0x30000000)
        {
            return false;
        }
        bool ok = true;
        nint Get(string symbol)
        {
            if (NativeLibrary.TryGetExport(library, symbol, out nint address))
            {
                return address;
            }
            ok = false;
            return 0;
        }
        nint newRawPrivateKey = Get("EVP_PKEY_new_raw_private_key");
        nint newRawPublicKey = Get("EVP_PKEY_new_raw_public_key");
        nint getRawPublicKey = Get("EVP_PKEY_get_raw_public_key");
        nint pkeyFree = Get("EVP_PKEY_free");
        nint pkeyCtxNew = Get("EVP_PKEY_CTX_new");
        nint pkeyCtxFree = Get("EVP_PKEY_CTX_free");
        nint deriveInit = Get("EVP_PKEY_derive_init");
        // _ex with validate_peer = 0: the check is a no-op for X25519 keys but costs a context; derive refuses low-order points.
        nint deriveSetPeer = Get("EVP_PKEY_derive_set_peer_ex");
        nint derive = Get("EVP_PKEY_derive");
        nint mdCtxNew = Get("EVP_MD_CTX_new");
        nint mdCtxFree = Get("EVP_MD_CTX_free");
        nint digestSignInit = Get("EVP_DigestSignInit");
        nint digestSign = Get("EVP_DigestSign");
        nint digestVerifyInit = Get("EVP_DigestVerifyInit");
        nint digestVerify = Get("EVP_DigestVerify");
        nint clearError = Get("ERR_clear_error");
        if (!ok)
        {
            return false;
        }
        NewRawPrivateKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)newRawPrivateKey;
        NewRawPublicKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)newRawPublicKey;
        GetRawPublicKey = (delegate* unmanaged<nint, byte*, nuint*, int>)getRawPublicKey;
        PKeyFree = (delegate* unmanaged<nint, void>)pkeyFree;
        PKeyCtxNew = (delegate* unmanaged<nint, nint, nint>)pkeyCtxNew;
        PKeyCtxFree = (delegate* unmanaged<nint, void>)pkeyCtxFree;
        DeriveInit = (delegate* unmanaged<nint, int>)deriveInit;
        DeriveSetPeer = (delegate* unmanaged<nint, nint, int, int>)deriveSetPeer;
        Derive = (delegate* unmanaged<nint, byte*, nuint*, int>)derive;
        MdCtxNew = (delegate* unmanaged<nint>)mdCtxNew;
        MdCtxFree = (delegate* unmanaged<nint, void>)mdCtxFree;
        DigestSignInit = (delegate* unmanaged<nint, nint, nint, nint, nint, int>)digestSignInit;
        DigestSign = (delegate* unmanaged<nint, byte*, nuint*, byte*, nuint, int>)digestSign;
        DigestVerifyInit = (delegate* unmanaged<nint, nint, nint, nint, nint, int>)digestVerifyInit;
        DigestVerify = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int>)digestVerify;
        ClearError = (delegate* unmanaged<void>)clearError;
        return true;
    }
}

/// <summary>Owns one <c>EVP_PKEY</c>; frees it exactly once (OpenSSL wipes private key bytes when it frees them).</summary>
internal sealed unsafe class LibCryptoKeyHandle : SafeHandle
{
    public LibCryptoKeyHandle(nint key) : base(0, ownsHandle: true) => SetHandle(key);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibCrypto.PKeyFree(handle);
        return true;
    }
}
