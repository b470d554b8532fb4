// JSON for people to read (an export bundle's model.json): objects one key per line, indented by two
// spaces, and an array whose items are all scalars (a shape, a list of class names, statistics) on one
// line. Must hold: the text is valid JSON that parses back to the same tree (JsonNode.DeepEquals);
// strings are escaped as JSON requires, but non-ASCII letters and HTML characters are kept as written.
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeCnn.IO;

/// <summary>Writes a <see cref="JsonNode"/> tree as indented JSON with arrays of scalars kept on one line.</summary>
public static class ReadableJson
{
    private static readonly JsonSerializerOptions Scalar = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The tree as text, ending with a newline.</summary>
    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder();
        Append(sb, node, 0);
        return sb.Append('\n').ToString();
    }

    private static void Append(StringBuilder sb, JsonNode? node, int depth)
    {
        string pad = new(' ', 2 * (depth + 1)), close = new(' ', 2 * depth);
        switch (node)
        {
            case JsonObject o when o.Count == 0: sb.Append("{}"); break;
            case JsonObject o:
                sb.Append("{\n");
                int i = 0;
                foreach (var (key, value) in o)
                {
                    sb.Append(pad).Append(JsonSerializer.Serialize(key, Scalar)).Append(": ");
                    Append(sb, value, depth + 1);
                    sb.Append(++i < o.Count ? ",\n" : "\n");
                }
                sb.Append(close).Append('}');
                break;
            case JsonArray a when a.All(v => v is not (JsonObject or JsonArray)):
                sb.Append('[').AppendJoin(", ", a.Select(v => v?.ToJsonString(Scalar) ?? "null")).Append(']');
                break;
            case JsonArray a:
                sb.Append("[\n");
                for (int k = 0; k < a.Count; k++)
                {
                    sb.Append(pad);
                    Append(sb, a[k], depth + 1);
                    sb.Append(k + 1 < a.Count ? ",\n" : "\n");
                }
                sb.Append(close).Append(']');
                break;
            default: sb.Append(node?.ToJsonString(Scalar) ?? "null"); break;
        }
    }
}
