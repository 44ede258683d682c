using System.ComponentModel;
using System.Globalization;

namespace P2PNet.Multiformats;

/// <summary>
/// Converts between <see cref="Multiaddr"/> and its text form, so the configuration binder and other
/// <see cref="TypeDescriptor"/> users read <c>"/ip4/0.0.0.0/tcp/4001"</c> from <c>appsettings.json</c>.
/// </summary>
/// <remarks>A malformed address fails with the <see cref="WireFormatException"/> of <see cref="Multiaddr.Parse(string)"/>,
/// which the binder reports with the configuration key.</remarks>
public sealed class MultiaddrTypeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) =>
        destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? Multiaddr.Parse(text.Trim()) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is Multiaddr address ? address.ToString() : base.ConvertTo(context, culture, value, destinationType);
}
