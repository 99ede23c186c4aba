using Microsoft.ML;
using Microsoft.ML.Data;

namespace OneDiff.MLNet;

/// <summary>Builds SchemaShape columns (their constructor is internal in ML.NET 6.0.0).</summary>
internal static class SchemaShapes
{
    public static SchemaShape WithTextColumn(SchemaShape input, string name)
    {
        var columns = input.Where(c => c.Name != name).ToList();
        columns.Add(new SchemaShape.Column(name, SchemaShape.Column.VectorKind.Scalar, TextDataViewType.Instance, false));
        return new SchemaShape(columns);
    }
}
