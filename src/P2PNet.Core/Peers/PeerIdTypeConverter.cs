using System.ComponentModel;
using System.Globalization;

namespace P2PNet.Peers;

/// <summary>
/// Converts between <see cref="PeerId"/> and its text form (base58btc, or the CIDv1 form), so the configuration binder
/// and other <see cref="TypeDescriptor"/> users read peer ids from <c>appsettings.json</c>.
/// </summary>
/// <remarks>A malformed id fails with the <see cref="WireFormatException"/> of <see cref="PeerId.Parse(string)"/>.</remarks>
public sealed class PeerIdTypeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) =>
        destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? PeerId.Parse(text.Trim()) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is PeerId peer ? peer.ToString() : base.ConvertTo(context, culture, value, destinationType);
}
