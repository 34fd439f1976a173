import { policyArn, roleArn, userArn } from '../../domain/iam/arns.js';
import type { IdentityService, PageRequest } from '../../domain/iam/identity-service.js';
import type { ManagedPolicyRecord, RoleRecord, UserRecord } from '../../stores/identity-store.js';
import { intParam, type QueryOperation, type QueryService } from '../aws/query-edge.js';
import type { XmlValue } from '../aws/xml.js';

// The subset of IAM's query API an operator needs: users, roles with trust policies,
// access keys, inline and managed policies and their attachments. Response shapes and
// field names are AWS's; policy documents come back URL-encoded, as IAM returns them.

const date = (ms: number) => new Date(ms);
const encodeDocument = (doc: string) => encodeURIComponent(doc);

const userXml = (u: UserRecord) => ({ Path: u.path, UserName: u.name, UserId: u.userId, Arn: userArn(u.accountId, u.name, u.path), CreateDate: date(u.createdAt) });
const roleXml = (r: RoleRecord) => ({
  Path: r.path,
  RoleName: r.name,
  RoleId: r.roleId,
  Arn: roleArn(r.accountId, r.name, r.path),
  CreateDate: date(r.createdAt),
  AssumeRolePolicyDocument: encodeDocument(r.trustPolicy),
  Description: r.description,
  MaxSessionDuration: r.maxSessionDuration,
});
const policyXml = (p: ManagedPolicyRecord) => ({
  PolicyName: p.name,
  PolicyId: p.policyId,
  Arn: p.accountId === 'aws' ? `arn:aws:iam::aws:policy${p.path}${p.name}` : policyArn(p.accountId, p.name, p.path),
  Path: p.path,
  DefaultVersionId: 'v1',
  AttachmentCount: p.attachmentCount,
  PermissionsBoundaryUsageCount: 0,
  IsAttachable: true,
  Description: p.description,
  CreateDate: date(p.createdAt),
  UpdateDate: date(p.updatedAt),
});

function page(params: Record<string, string>): PageRequest {
  const maxItems = intParam(params, 'MaxItems');
  return { ...(params.Marker ? { marker: params.Marker } : {}), ...(maxItems !== undefined ? { maxItems } : {}), ...(params.PathPrefix ? { pathPrefix: params.PathPrefix } : {}) };
}

function listed(name: string, items: XmlValue[], marker?: string) {
  return { [name]: items, IsTruncated: marker !== undefined, ...(marker !== undefined ? { Marker: marker } : {}) };
}

export function iamService(identity: IdentityService): QueryService {
  const inline = (kind: 'user' | 'role') => {
    const entityParam = kind === 'user' ? 'UserName' : 'RoleName';
    const ops: Record<string, QueryOperation> = {
      async put({ caller, params, facts }) {
        await identity.putInlinePolicy(caller, kind, params[entityParam], params.PolicyName, params.PolicyDocument, facts);
        return null;
      },
      async get({ caller, params, facts }) {
        const p = await identity.getInlinePolicy(caller, kind, params[entityParam], params.PolicyName, facts);
        return { [entityParam]: p.entityName, PolicyName: p.policyName, PolicyDocument: encodeDocument(p.document) };
      },
      async delete({ caller, params, facts }) {
        await identity.deleteInlinePolicy(caller, kind, params[entityParam], params.PolicyName, facts);
        return null;
      },
      async list({ caller, params, facts }) {
        return listed('PolicyNames', await identity.listInlinePolicies(caller, kind, params[entityParam], facts));
      },
      async attach({ caller, params, facts }) {
        await identity.attachPolicy(caller, kind, params[entityParam], params.PolicyArn, facts);
        return null;
      },
      async detach({ caller, params, facts }) {
        await identity.detachPolicy(caller, kind, params[entityParam], params.PolicyArn, facts);
        return null;
      },
      async listAttached({ caller, params, facts }) {
        const attached = await identity.listAttachedPolicies(caller, kind, params[entityParam], facts);
        return listed('AttachedPolicies', attached.map((a) => ({ PolicyName: a.policyName, PolicyArn: a.policyArn })));
      },
    };
    return ops;
  };
  const user = inline('user');
  const role = inline('role');

  return {
    name: 'iam',
    namespace: 'https://iam.amazonaws.com/doc/2010-05-08/',
    operations: {
      async CreateUser({ caller, params, facts }) {
        return { User: userXml(await identity.createUser(caller, { ...(params.UserName !== undefined ? { userName: params.UserName } : {}), ...(params.Path !== undefined ? { path: params.Path } : {}) }, facts)) };
      },
      async GetUser({ caller, params, facts }) {
        return { User: userXml(await identity.getUser(caller, params.UserName, facts)) };
      },
      async ListUsers({ caller, params, facts }) {
        const result = await identity.listUsers(caller, page(params), facts);
        return listed('Users', result.items.map(userXml), result.marker);
      },
      async DeleteUser({ caller, params, facts }) {
        await identity.deleteUser(caller, params.UserName, facts);
        return null;
      },

      async CreateRole({ caller, params, facts }) {
        const maxSessionDuration = intParam(params, 'MaxSessionDuration');
        const created = await identity.createRole(
          caller,
          {
            ...(params.RoleName !== undefined ? { roleName: params.RoleName } : {}),
            ...(params.Path !== undefined ? { path: params.Path } : {}),
            ...(params.AssumeRolePolicyDocument !== undefined ? { assumeRolePolicyDocument: params.AssumeRolePolicyDocument } : {}),
            ...(params.Description !== undefined ? { description: params.Description } : {}),
            ...(maxSessionDuration !== undefined ? { maxSessionDuration } : {}),
          },
          facts,
        );
        return { Role: roleXml(created) };
      },
      async GetRole({ caller, params, facts }) {
        return { Role: roleXml(await identity.getRole(caller, params.RoleName, facts)) };
      },
      async ListRoles({ caller, params, facts }) {
        const result = await identity.listRoles(caller, page(params), facts);
        return listed('Roles', result.items.map(roleXml), result.marker);
      },
      async UpdateAssumeRolePolicy({ caller, params, facts }) {
        await identity.updateAssumeRolePolicy(caller, params.RoleName, params.PolicyDocument, facts);
        return null;
      },
      async DeleteRole({ caller, params, facts }) {
        await identity.deleteRole(caller, params.RoleName, facts);
        return null;
      },

      async CreateAccessKey({ caller, params, facts }) {
        const key = await identity.createAccessKey(caller, params.UserName, facts);
        return { AccessKey: { UserName: key.userName, AccessKeyId: key.accessKeyId, Status: key.status, SecretAccessKey: key.secretAccessKey, CreateDate: date(key.createdAt) } };
      },
      async ListAccessKeys({ caller, params, facts }) {
        const keys = await identity.listAccessKeys(caller, params.UserName, facts);
        return { ...listed('AccessKeyMetadata', keys.map((k) => ({ UserName: k.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: date(k.createdAt) }))) };
      },
      async UpdateAccessKey({ caller, params, facts }) {
        await identity.updateAccessKey(caller, params.UserName, params.AccessKeyId, params.Status, facts);
        return null;
      },
      async DeleteAccessKey({ caller, params, facts }) {
        await identity.deleteAccessKey(caller, params.UserName, params.AccessKeyId, facts);
        return null;
      },

      PutUserPolicy: user.put!,
      GetUserPolicy: user.get!,
      DeleteUserPolicy: user.delete!,
      ListUserPolicies: user.list!,
      AttachUserPolicy: user.attach!,
      DetachUserPolicy: user.detach!,
      ListAttachedUserPolicies: user.listAttached!,
      PutRolePolicy: role.put!,
      GetRolePolicy: role.get!,
      DeleteRolePolicy: role.delete!,
      ListRolePolicies: role.list!,
      AttachRolePolicy: role.attach!,
      DetachRolePolicy: role.detach!,
      ListAttachedRolePolicies: role.listAttached!,

      async CreatePolicy({ caller, params, facts }) {
        const created = await identity.createPolicy(
          caller,
          {
            ...(params.PolicyName !== undefined ? { policyName: params.PolicyName } : {}),
            ...(params.Path !== undefined ? { path: params.Path } : {}),
            ...(params.PolicyDocument !== undefined ? { policyDocument: params.PolicyDocument } : {}),
            ...(params.Description !== undefined ? { description: params.Description } : {}),
          },
          facts,
        );
        return { Policy: policyXml(created) };
      },
      async GetPolicy({ caller, params, facts }) {
        return { Policy: policyXml(await identity.getPolicy(caller, params.PolicyArn, facts)) };
      },
      async GetPolicyVersion({ caller, params, facts }) {
        const v = await identity.getPolicyVersion(caller, params.PolicyArn, params.VersionId, facts);
        return { PolicyVersion: { Document: encodeDocument(v.document), VersionId: v.versionId, IsDefaultVersion: true, CreateDate: date(v.createDate) } };
      },
      async ListPolicies({ caller, params, facts }) {
        const result = await identity.listPolicies(caller, params.Scope, params.OnlyAttached === 'true', page(params), facts);
        return listed('Policies', result.items.map(policyXml), result.marker);
      },
      async DeletePolicy({ caller, params, facts }) {
        await identity.deletePolicy(caller, params.PolicyArn, facts);
        return null;
      },
    },
  };
}
